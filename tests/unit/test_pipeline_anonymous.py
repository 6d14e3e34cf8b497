"""PUE_REFRESH_ANONYMOUS on the Kinesis path: off, no anonymous visitor costs a call; on, exactly one
GetRecommendations per distinct visitor of the batch, its list to the sinks that can hold it, every other
sink's skip counted. Asserted on the raw calls the fakes record (they compute nothing the test checks)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.anonymous_refresh import NOWHERE
from consumers.stream.event_map import EventMap
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline, RefreshOptions
from consumers.stream.publish import NO_ANONYMOUS_PROFILE
from destinations.aws.pinpoint import PinpointEndpointSink
from destinations.ports import RecommendationSink
from schemas.delivery import DeliveryReport
from schemas.errors import RetryableError
from schemas.recommendation import ANONYMOUS_KEY_PREFIX
from schemas.refresh import OwedRefresh
from tests.factories import kinesis_event, segment_track
from tests.fakes import FakeDeadLetters, FakePurchases, FakeRecommender, FakeSink, FakeTracker
from tests.unit.test_pipeline import viewed

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def browsed(anonymous_id: str, n: int) -> list[dict[str, Any]]:
    """``n`` views by a visitor known only by its anonymousId."""
    return viewed(None, n, session=anonymous_id)


class RecordingLedger:
    """A refresh ledger that remembers what it was told and answers "nobody refreshed recently"."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []
        self.recorded: list[list[str]] = []
        self.owed: list[list[str]] = []

    def refreshed_since(self, user_ids: Sequence[str], since: datetime) -> set[str]:
        self.asked.append(list(user_ids))
        return set()

    def record(self, user_ids: Sequence[str], at: datetime) -> None:
        self.recorded.append(list(user_ids))

    def settle(self, owed: Sequence[OwedRefresh], at: datetime) -> None:
        raise AssertionError("the batch never settles")

    def owe(self, user_ids: Sequence[str], interval: timedelta) -> None:
        self.owed.append(list(user_ids))

    def due(self, now: datetime, limit: int) -> list[OwedRefresh]:
        return []


class RecordingPurchaseLedger:
    def __init__(self) -> None:
        self.recorded: list[dict[str, frozenset[str]]] = []
        self.read: list[list[str]] = []

    def record(self, purchases: Mapping[str, frozenset[str]]) -> DeliveryReport:
        self.recorded.append(dict(purchases))
        return DeliveryReport()

    def purchased(self, user_ids: Sequence[str]) -> Mapping[str, frozenset[str]]:
        self.read.append(list(user_ids))
        return {}


class AskedPurchases(FakePurchases):
    """The Profile API's purchases, remembering whom it was asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def purchased_items(self, user_id: str) -> frozenset[str]:
        self.asked.append(user_id)
        return super().purchased_items(user_id)


@pytest.fixture
def made() -> Iterator[list[Pipeline]]:
    pipelines: list[Pipeline] = []
    yield pipelines
    for pipeline in pipelines:
        pipeline.close()


def build(
    made: list[Pipeline], *, anonymous: bool, sinks: Sequence[RecommendationSink], **ports: Any
) -> Pipeline:
    pipeline = Pipeline(
        tracker=ports.get("tracker", FakeTracker()),
        recommender=ports.get("recommender", FakeRecommender()),
        sinks=sinks,
        dead_letters=FakeDeadLetters(),
        purchases=ports.get("purchases"),
        event_map=EventMap.default(),
        refresh=RefreshOptions(
            num_results=3, anonymous=anonymous, min_interval_seconds=ports.get("interval", 0.0)
        ),
        max_workers=4,
        ledger=ports.get("ledger"),
        purchase_ledger=ports.get("purchase_ledger"),
        clock=lambda: T0,
    )
    made.append(pipeline)
    return pipeline


def mixed_batch() -> list[dict[str, Any]]:
    """Two users and two visitors; visitor a-1 has 25 events (three PutEvents), a-2 one."""
    return viewed("alice", 2) + browsed("a-1", 25) + viewed("bob", 1) + browsed("a-2", 1)


def test_off_no_anonymous_visitor_costs_a_call(made: list[Pipeline]) -> None:
    recommender, segment = FakeRecommender(), FakeSink("personas", takes_anonymous=True)
    pipeline = build(made, anonymous=False, sinks=[segment], recommender=recommender)
    _, result = handle_event(kinesis_event(mixed_batch()), pipeline)
    assert sorted(r.user_id or "" for r in recommender.requests) == ["alice", "bob"]
    assert sorted(r.key for r in segment.published) == ["alice", "bob"]
    assert result is not None and result.counts.processed == 29 and result.counts.balanced
    assert (result.counts.users_refreshed, result.counts.anonymous_refreshed) == (2, 0)
    assert result.counts.anonymous_skipped == 0 and result.counts.anonymous_skips == {}


def test_on_one_get_recommendations_per_distinct_visitor_and_its_list_where_it_fits(
    made: list[Pipeline],
) -> None:
    tracker, recommender = FakeTracker(), FakeRecommender()
    segment = FakeSink("personas", takes_anonymous=True)
    pinpoint, messages = FakeSink("pinpoint"), FakeSink("messages")
    pipeline = build(
        made, anonymous=True, sinks=[segment, pinpoint, messages], tracker=tracker, recommender=recommender
    )
    response, result = handle_event(kinesis_event(mixed_batch()), pipeline)

    assert response == {"batchItemFailures": []}
    asked = sorted(r.user_id or "" for r in recommender.requests)
    assert asked == ["a-1", "a-2", "alice", "bob"]  # once per distinct visitor, however many events
    anonymous_batches = [b for b in tracker.batches if b.user_id is None]
    assert sorted((b.session_id, len(b.interactions)) for b in anonymous_batches) == [
        ("a-1", 5),
        ("a-1", 10),
        ("a-1", 10),
        ("a-2", 1),
    ]
    visitors = sorted((r.user_id, r.anonymous, r.refresh_key) for r in segment.published if r.anonymous)
    assert visitors == [("a-1", True, "None-a-1-24"), ("a-2", True, "None-a-2-0")]
    assert sorted(r.user_id for r in segment.published if not r.anonymous) == ["alice", "bob"]
    for user_only in (pinpoint, messages):
        assert sorted((r.user_id, r.anonymous) for r in user_only.published) == [
            ("alice", False),
            ("bob", False),
        ]
    assert result is not None
    counts = result.counts
    assert (counts.users_refreshed, counts.anonymous_refreshed, counts.anonymous_skipped) == (2, 2, 4)
    assert counts.anonymous_skips == {
        f"pinpoint: {NO_ANONYMOUS_PROFILE}": 2,
        f"messages: {NO_ANONYMOUS_PROFILE}": 2,
    }
    assert counts.processed == 29 and counts.balanced


def test_on_without_a_sink_that_holds_anonymous_lists_nothing_is_asked_and_it_says_so(
    made: list[Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    recommender = FakeRecommender()
    with caplog.at_level(logging.WARNING, logger="pue.pipeline"):
        pipeline = build(made, anonymous=True, sinks=[FakeSink("pinpoint")], recommender=recommender)
    _, result = handle_event(kinesis_event(mixed_batch()), pipeline)
    assert sorted(r.user_id or "" for r in recommender.requests) == ["alice", "bob"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [NOWHERE]
    assert result is not None and result.counts.anonymous_skipped == 0


def test_the_real_pinpoint_sink_is_never_called_for_a_visitor(made: list[Pipeline]) -> None:
    client = boto3.client(
        "pinpoint", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    client.meta.events.register(
        "before-parameter-build.pinpoint.*",
        lambda params, model, **_: calls.append((model.name, dict(params))),
    )
    with Stubber(client) as stubber:
        stubber.add_client_error("get_user_endpoints", "NotFoundException", http_status_code=404)
        sink = PinpointEndpointSink(client, "app", max_workers=1)
        segment = FakeSink("personas", takes_anonymous=True)
        pipeline = build(made, anonymous=True, sinks=[sink, segment])
        _, result = handle_event(kinesis_event(viewed("alice", 1) + browsed("a-1", 2)), pipeline)
        stubber.assert_no_pending_responses()
        sink.close()
    assert calls == [("GetUserEndpoints", {"ApplicationId": "app", "UserId": "alice"})]
    assert result is not None and result.counts.anonymous_skips == {f"pinpoint: {NO_ANONYMOUS_PROFILE}": 1}
    assert [r.user_id for r in segment.published if r.anonymous] == ["a-1"]


def test_a_visitors_failed_sink_retries_only_its_records(made: list[Pipeline]) -> None:
    failing = FakeSink("personas", takes_anonymous=True)
    failing.fail_users[f"{ANONYMOUS_KEY_PREFIX}a-1"] = RetryableError("segment down")
    pipeline = build(made, anonymous=True, sinks=[failing])
    event = kinesis_event(viewed("a-1", 2) + browsed("a-1", 3))  # a user whose id equals the anonymousId
    response, result = handle_event(event, pipeline)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    sequences = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert failed == set(sequences[2:])  # the visitor's three records, not the same-named user's two
    assert (
        result is not None and result.counts.users_refreshed == 1 and result.counts.anonymous_refreshed == 0
    )
    assert [r.user_id for r in failing.published] == ["a-1"] and not failing.published[0].anonymous


def test_visitors_stay_out_of_the_refresh_ledger(made: list[Pipeline]) -> None:
    ledger = RecordingLedger()
    pipeline = build(
        made, anonymous=True, sinks=[FakeSink("personas", takes_anonymous=True)], ledger=ledger, interval=60
    )
    _, result = handle_event(kinesis_event(mixed_batch()), pipeline)
    assert [sorted(a) for a in ledger.asked] == [["alice", "bob"]]
    assert [sorted(r) for r in ledger.recorded] == [["alice", "bob"]]
    assert ledger.owed == []
    assert result is not None and result.counts.anonymous_refreshed == 2


def test_a_visitors_own_purchases_are_excluded_and_no_user_source_is_asked_about_it(
    made: list[Pipeline],
) -> None:
    purchases, ledger = AskedPurchases(), RecordingPurchaseLedger()
    recommender = FakeRecommender(items=("p1", "p2", "p3", "p4"))
    segment = FakeSink("personas", takes_anonymous=True)
    pipeline = build(
        made,
        anonymous=True,
        sinks=[segment],
        recommender=recommender,
        purchases=purchases,
        purchase_ledger=ledger,
    )
    order = segment_track(
        "Order Completed", user_id=None, anonymous_id="a-1", properties={"products": [{"product_id": "p1"}]}
    )
    _, result = handle_event(kinesis_event([*browsed("a-1", 1), order, *viewed("alice", 1)]), pipeline)
    visitor = next(r for r in segment.published if r.anonymous)
    assert visitor.item_ids == ("p2", "p3", "p4")  # asked for one more, p1 removed, three kept
    asked = next(r for r in recommender.requests if r.user_id == "a-1")
    assert asked.num_results == 4
    assert purchases.asked == ["alice"] and ledger.read == [["alice"]] and ledger.recorded == []
    assert result is not None and result.counts.balanced


def test_a_users_list_names_the_visitors_its_events_carried(made: list[Pipeline]) -> None:
    segment = FakeSink("personas", takes_anonymous=True)
    pipeline = build(made, anonymous=True, sinks=[segment])
    login = viewed("alice", 1, session="a-1") + viewed("alice", 1, session="a-9") + viewed("bob", 1)
    handle_event(kinesis_event(login), pipeline)
    linked = {r.user_id: r.anonymous_ids for r in segment.published}
    assert linked == {"alice": ("a-1", "a-9"), "bob": ()}


def test_a_backfill_defers_users_and_refreshes_no_visitor(made: list[Pipeline]) -> None:
    recommender = FakeRecommender()
    pipeline = build(
        made, anonymous=True, sinks=[FakeSink("personas", takes_anonymous=True)], recommender=recommender
    )
    pipeline.deferred_users = {}
    handle_event(kinesis_event(mixed_batch()), pipeline)
    assert recommender.requests == []
    assert sorted(pipeline.deferred_users) == ["alice", "bob"]


def test_a_local_batch_scope_refreshes_visitors_after_tracking_them_once(made: list[Pipeline]) -> None:
    tracker, recommender = FakeTracker(), FakeRecommender()
    segment = FakeSink("personas", takes_anonymous=True)
    pipeline = build(made, anonymous=True, sinks=[segment], tracker=tracker, recommender=recommender)
    pipeline.batch_scope = nullcontext
    _, result = handle_event(kinesis_event(mixed_batch()), pipeline)
    assert len(tracker.event_ids) == 29 == len(set(tracker.event_ids))
    assert sorted(r.user_id or "" for r in recommender.requests) == ["a-1", "a-2", "alice", "bob"]
    assert result is not None and (result.counts.users_refreshed, result.counts.anonymous_refreshed) == (2, 2)


def test_bootstrap_refreshes_visitors_only_where_a_sink_holds_their_lists(tmp_path: Path) -> None:
    local_only = Settings(state_dir=tmp_path / "a", refresh_anonymous=True)
    with_segment = Settings(
        state_dir=tmp_path / "b",
        refresh_anonymous=True,
        segment_write_key="wk",
        segment_api_host="http://127.0.0.1:9",
    )
    answers = {}
    for name, settings in (("local", local_only), ("segment", with_segment)):
        pipeline, wiring = build_pipeline(settings, engagement=EngagementSettings())
        answers[name] = (pipeline.refresh.anonymous, pipeline.refresh_anonymous)
        pipeline.close()
        assert wiring.local is not None
        wiring.local.close()
    assert answers == {"local": (True, False), "segment": (True, True)}


def test_post_events_writes_a_visitors_list_only_with_the_setting_and_where_it_fits(
    made: list[Pipeline],
) -> None:
    message = segment_track(
        "Product Viewed", user_id=None, anonymous_id="a-1", properties={"product_id": "p"}, message_id="m-1"
    )
    written: dict[bool, list[tuple[str, str, bool]]] = {}
    for setting in (False, True):
        segment, pinpoint = FakeSink("personas", takes_anonymous=True), FakeSink("pinpoint")
        purchases = AskedPurchases()
        pipeline = build(made, anonymous=setting, sinks=[segment, pinpoint], purchases=purchases)
        answer = pipeline.track_and_refresh(message, num_results=2)
        assert answer.user_id == "a-1" and len(answer.items) == 2
        assert purchases.asked == []  # the Profile API knows users only
        written[setting] = [
            (s.name, r.user_id, r.anonymous) for s in (segment, pinpoint) for r in s.published
        ]
    assert written == {False: [], True: [("personas", "a-1", True)]}


def test_the_batch_line_names_each_sinks_skips(
    made: list[Pipeline], caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = build(
        made, anonymous=True, sinks=[FakeSink("personas", takes_anonymous=True), FakeSink("pinpoint")]
    )
    with caplog.at_level(logging.INFO, logger="pue.pipeline"):
        handle_event(kinesis_event(mixed_batch()), pipeline)
    (line,) = [r for r in caplog.records if r.getMessage() == "batch"]
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["anonymous_skips"] == {f"pinpoint: {NO_ANONYMOUS_PROFILE}": 2}
