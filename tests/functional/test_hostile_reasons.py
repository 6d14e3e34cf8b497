"""Issue 14 item 4: reasons are a fixed vocabulary, names from input live only in a bounded, truncated
sample, never in an error body, and what ``GET /stats`` reads does not grow with the variety of the input."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.api import build_api
from consumers.bootstrap.stream import build_pipeline
from consumers.cli import main
from consumers.config.api_settings import ApiSettings
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.web.contract import ApiRequest
from consumers.web.routes import Api
from destinations.local import LocalBackend
from schemas.batch import MAX_REASON_KEYS, OTHER_REASONS, SAMPLE_SIZE, BatchCounts
from tests.factories import kinesis_event, segment_track
from tests.functional.api_harness import API_KEY

SECRET = "Secretname Phone 5550199"
DISTINCT_NAMES = 20_000  # the bench (tests/benchmarks/stats_variety.py) runs the 200,000


def unmapped(n: int, name: str | None = None) -> dict[str, Any]:
    return segment_track(name or f"Custom Event {n:06d} " + "z" * 80, user_id=f"u{n}", message_id=f"m{n}")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    built = build_api(
        dataclasses.replace(Settings(), state_dir=tmp_path / "state"), ApiSettings(api_keys=(API_KEY,))
    )
    yield built
    built.close()


def post(api: Api, body: dict[str, Any]) -> tuple[int, bytes]:
    headers = {"content-type": "application/json", "x-api-key": API_KEY}
    response = api.handle(ApiRequest("POST", "/events", (), headers, json.dumps(body).encode()))
    return response.status, response.body


def test_the_422_answer_never_echoes_the_event_name(api: Api) -> None:
    status, body = post(api, unmapped(1, SECRET))
    assert status == 422
    assert SECRET.encode() not in body and b"5550199" not in body
    assert json.loads(body)["error"]["message"] == "not tracked: unmapped event"


def test_distinct_names_make_one_reason_and_a_bounded_truncated_sample(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), state_dir=tmp_path / "state")
    pipeline, wiring = build_pipeline(settings, engagement=EngagementSettings())
    assert wiring.local is not None
    # One name makes a tenth of the traffic, spread through it: space-saving keeps every name more frequent
    # than 1/SAMPLE_SIZE of the total, whatever the order.
    messages = []
    for n in range(DISTINCT_NAMES):
        messages.append(unmapped(n))
        if n % 9 == 0:
            messages.append(unmapped(DISTINCT_NAMES + n, "Heavy Hitter"))
    heavy = sum(1 for m in messages if m["event"] == "Heavy Hitter")
    try:
        for start in range(0, len(messages), 500):
            pipeline.handle(kinesis_event(messages[start : start + 500], start_sequence=start)["Records"])
        totals = wiring.local.stats.totals()
    finally:
        pipeline.close()
        wiring.local.close()
    assert totals.filtered == len(messages)
    assert totals.filter_reasons == {"unmapped event": len(messages)}
    assert len(totals.unmapped_events) == SAMPLE_SIZE
    assert all(len(name) <= 64 for name in totals.unmapped_events)
    assert totals.unmapped_events["Heavy Hitter"] >= heavy
    with sqlite3.connect(tmp_path / "state" / "pue.sqlite3") as conn:
        rows = conn.execute("SELECT COUNT(*) FROM pipeline_reasons").fetchone()[0]
        samples = conn.execute("SELECT COUNT(*) FROM pipeline_samples").fetchone()[0]
    assert (rows, samples) == (1, SAMPLE_SIZE)


def test_reason_keys_stay_bounded_whatever_arrives(tmp_path: Path) -> None:
    """A backstop for reasons the vocabulary does not cover (an adapter's text): bounded per kind."""
    backend = LocalBackend.open(tmp_path)
    try:
        for batch in range(10):
            reasons = {f"service said: request {batch}-{n} failed": 1 for n in range(50)}
            counts = BatchCounts(records=50, failed=50, failure_reasons=reasons)
            merged = BatchCounts()
            merged.add(counts)
            assert len(merged.failure_reasons) <= MAX_REASON_KEYS
            backend.stats.record(counts)
        totals = backend.stats.totals()
    finally:
        backend.close()
    assert len(totals.failure_reasons) == MAX_REASON_KEYS + 1
    assert totals.failure_reasons[OTHER_REASONS] == 500 - MAX_REASON_KEYS
    assert sum(totals.failure_reasons.values()) == totals.failed == 500


def test_stats_show_the_sample_and_never_the_raw_names_beyond_it(api: Api) -> None:
    for n in range(SAMPLE_SIZE * 3):
        assert post(api, unmapped(n))[0] == 422
    for n in range(5):
        post(api, unmapped(1000 + n, SECRET))
    headers = {"x-api-key": API_KEY}
    stats = json.loads(api.handle(ApiRequest("GET", "/stats", (), headers, b"")).body)
    assert stats["filterReasons"] == [{"reason": "unmapped event", "count": SAMPLE_SIZE * 3 + 5}]
    # The heaviest name comes first; space-saving counts are upper bounds (a name entering a full sample
    # inherits the count of the one it displaced).
    assert stats["unmappedEvents"][0]["name"] == SECRET and stats["unmappedEvents"][0]["count"] >= 5
    assert len(stats["unmappedEvents"]) == 5


def test_replay_prints_the_sample_apart_from_the_fixed_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(json.dumps(unmapped(1, SECRET)) + "\n")
    assert main(["replay", str(path), "--state", str(tmp_path / "state")]) == 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out  # the summary line: counts only
    assert "filtered: unmapped event: 1\n" in captured.err
    assert f"unmapped events (most frequent): {SECRET}: 1\n" in captured.err
