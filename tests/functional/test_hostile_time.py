"""Issue 14 item 2: no client clock can rig the rankings. An event time later than the message's receipt
(``receivedAt``, else now) plus five minutes is clamped to the receipt on every path (stream, POST /events,
replay, export), the clamp is counted, and the local model and PutEvents both get the clamped time."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from consumers.cli import main
from consumers.onboarding.export.exporter import ExportOptions, export
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from consumers.stream.timestamps import MAX_CLOCK_SKEW
from destinations.aws.personalize_events import PersonalizeEventTracker
from destinations.local import LocalBackend
from schemas.interaction import Interaction
from schemas.recommendation import RecommendationRequest
from tests.factories import kinesis_event, segment_track
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink

FAR_FUTURE = "9999-12-31T23:59:59Z"
POPULAR = ("pop-1", "pop-2", "pop-3")


def viewed(user: str, item: str, when: datetime | str, **fields: Any) -> dict[str, Any]:
    stamp = when if isinstance(when, str) else when.isoformat().replace("+00:00", "Z")
    message = segment_track(
        "Product Viewed",
        user_id=user,
        properties={"product_id": item},
        message_id=f"{user}-{item}",
        timestamp=stamp,
    )
    message.update(fields)
    return message


def honest_history(now: datetime) -> list[dict[str, Any]]:
    """Three well-liked items, each viewed by four users an hour ago."""
    hour_ago = now - timedelta(hours=1)
    return [viewed(f"fan-{n}", item, hour_ago) for item in POPULAR for n in range(4)]


def cold_user_list(local: LocalBackend) -> list[str]:
    request = RecommendationRequest(user_id="cold-user", num_results=4)
    return [item.item_id for item in local.recommender.get_recommendations(request).items]


@pytest.mark.parametrize("path", ["stream", "app event"])
def test_a_year_9999_event_cannot_lift_an_item_above_the_others_for_a_cold_user(
    local_pipeline: tuple[Pipeline, LocalBackend], path: str
) -> None:
    pipeline, local = local_pipeline
    now = datetime.now(UTC)
    pipeline.handle(kinesis_event(honest_history(now))["Records"])
    attack = viewed("attacker", "rigged", FAR_FUTURE)
    if path == "stream":
        result = pipeline.handle(kinesis_event([attack], start_sequence=100)["Records"])
        assert result.counts.processed == 1 and result.counts.timestamps_clamped == 1
    else:
        pipeline.track_and_refresh(attack)
    ranked = cold_user_list(local)
    assert ranked[:3] == sorted(POPULAR) or set(ranked[:3]) == set(POPULAR), ranked
    assert ranked[3] == "rigged"
    stored = [i for i in local.store.interactions_for("attacker") if i.item_id == "rigged"]
    assert len(stored) == 1 and stored[0].sent_at <= datetime.now(UTC) + MAX_CLOCK_SKEW
    assert local.stats.totals().timestamps_clamped == 1


def test_the_check_can_fail_the_same_event_unclamped_does_rig_the_model(
    local_pipeline: tuple[Pipeline, LocalBackend],
) -> None:
    """Control, what the clamp prevents: learnt at its own time, one 9999 view beats twelve honest ones."""
    pipeline, local = local_pipeline
    pipeline.handle(kinesis_event(honest_history(datetime.now(UTC)))["Records"])
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    local.recommender.learn([Interaction("e-1", "Product Viewed", "attacker", far, "attacker", "rigged")])
    assert cold_user_list(local)[0] == "rigged"


def test_a_time_within_the_skew_is_kept(local_pipeline: tuple[Pipeline, LocalBackend]) -> None:
    pipeline, local = local_pipeline
    soon = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    result = pipeline.handle(kinesis_event([viewed("u1", "p1", soon)])["Records"])
    assert result.counts.timestamps_clamped == 0
    assert [i.sent_at for i in local.store.interactions_for("u1")] == [soon]


def test_put_events_receives_the_clamped_sent_at() -> None:
    client = boto3.client(
        "personalize-events",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parameter-build.personalize-events.PutEvents", lambda params, **_: calls.append(params)
    )
    pipeline = Pipeline(
        tracker=PersonalizeEventTracker(client, "tracking-1"),
        recommender=FakeRecommender(),
        sinks=[FakeSink()],
        dead_letters=FakeDeadLetters(),
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5),
        max_workers=2,
    )
    received = "2026-11-30T10:00:00.000Z"
    message = viewed(
        "u1", "p1", FAR_FUTURE, receivedAt=received, sentAt=FAR_FUTURE, originalTimestamp=FAR_FUTURE
    )
    try:
        with Stubber(client) as stubber:
            stubber.add_response("put_events", {})
            result = pipeline.handle(kinesis_event([message])["Records"])
            stubber.assert_no_pending_responses()
    finally:
        pipeline.close()
    assert result.counts.processed == 1 and result.counts.timestamps_clamped == 1
    (call,) = calls
    assert [event["sentAt"] for event in call["eventList"]] == [datetime(2026, 11, 30, 10, 0, tzinfo=UTC)]


def test_replay_clamps_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.jsonl"
    lines = [
        viewed("u1", "p1", FAR_FUTURE, receivedAt="2026-11-30T10:00:00Z"),
        viewed("u1", "p2", "2026-11-30T09:00:00Z", receivedAt="2026-11-30T09:00:01Z"),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["replay", str(path), "--state", str(tmp_path / "state")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["processed"], summary["timestamps_clamped"]) == (2, 1)
    assert main(["profile", "u1", "--state", str(tmp_path / "state")]) == 0
    profile = json.loads(capsys.readouterr().out)
    assert {i["itemId"]: i["sentAt"] for i in profile["interactions"]} == {
        "p1": "2026-11-30T10:00:00.000+00:00",
        "p2": "2026-11-30T09:00:00.000+00:00",
    }


def test_export_clamps_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    lines = [
        viewed("u1", "p1", FAR_FUTURE, receivedAt="2026-11-30T10:00:00Z"),
        viewed("u2", "p1", "2026-11-30T09:00:00Z"),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary = export([path], tmp_path / "out", ExportOptions(event_map=EventMap.default()))
    assert (summary.tracked, summary.timestamps_clamped) == (2, 1)
    with (tmp_path / "out" / "interactions.csv").open() as f:
        stamps = {row["USER_ID"]: int(row["TIMESTAMP"]) for row in csv.DictReader(f)}
    assert stamps == {
        "u1": int(datetime(2026, 11, 30, 10, 0, tzinfo=UTC).timestamp()),
        "u2": int(datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()),
    }
