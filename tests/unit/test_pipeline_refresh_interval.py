"""PUE_REFRESH_MIN_INTERVAL_SECONDS: a user refreshed less than the interval ago is tracked but not
refreshed again; the ledger is best effort and never fails or skips a record."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.stream import build_pipeline
from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline, RefreshOptions
from destinations.local import LocalStore
from destinations.local.refresh_ledger import LocalRefreshLedger
from destinations.ports import RefreshLedger
from schemas.errors import RetryableError
from schemas.refresh import OwedRefresh
from tests.factories import kinesis_event
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker
from tests.unit.test_pipeline import viewed


class BrokenLedger:
    def refreshed_since(self, user_ids: Sequence[str], since: datetime) -> set[str]:
        raise ConnectionError("ledger down")

    def record(self, user_ids: Sequence[str], at: datetime) -> None:
        raise ConnectionError("ledger down")

    def settle(self, owed: Sequence[OwedRefresh], at: datetime) -> None:
        raise ConnectionError("ledger down")

    def owe(self, user_ids: Sequence[str], interval: timedelta) -> None:
        raise ConnectionError("ledger down")

    def due(self, now: datetime, limit: int) -> list[OwedRefresh]:
        raise ConnectionError("ledger down")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    opened = LocalStore(tmp_path / "pue.sqlite3")
    yield opened
    opened.close()


def pipeline(ledger: RefreshLedger | None, interval: float, **ports: Any) -> Pipeline:
    return Pipeline(
        tracker=ports.get("tracker", FakeTracker()),
        recommender=ports.get("recommender", FakeRecommender()),
        sinks=[ports.get("sink", FakeSink())],
        dead_letters=FakeDeadLetters(),
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5, min_interval_seconds=interval),
        max_workers=4,
        ledger=ledger,
    )


def test_a_user_refreshed_within_the_interval_is_tracked_but_not_refreshed(store: LocalStore) -> None:
    tracker, recommender, sink = FakeTracker(), FakeRecommender(), FakeSink()
    p = pipeline(LocalRefreshLedger(store), 300, tracker=tracker, recommender=recommender, sink=sink)
    try:
        _, first = handle_event(kinesis_event(viewed("alice", 2)), p)
        _, second = handle_event(kinesis_event(viewed("alice", 4)[2:] + viewed("bob", 1)), p)
    finally:
        p.close()
    assert first is not None and first.counts.users_refreshed == 1
    assert second is not None and second.counts.processed == 3 and second.counts.failed == 0
    assert second.counts.users_refreshed == 1  # bob only
    assert [r.user_id for r in recommender.requests] == ["alice", "bob"]
    assert len(tracker.event_ids) == 5  # every event tracked, whatever the refresh did
    assert [r.user_id for r in sink.published] == ["alice", "bob"]


def test_without_an_interval_every_batch_refreshes(store: LocalStore) -> None:
    recommender = FakeRecommender()
    p = pipeline(LocalRefreshLedger(store), 0, recommender=recommender)
    try:
        handle_event(kinesis_event(viewed("alice", 1)), p)
        handle_event(kinesis_event(viewed("alice", 2)[1:]), p)
    finally:
        p.close()
    assert [r.user_id for r in recommender.requests] == ["alice", "alice"]


def test_a_broken_ledger_means_refresh_not_failure() -> None:
    recommender = FakeRecommender()
    p = pipeline(BrokenLedger(), 300, recommender=recommender)
    try:
        response, result = handle_event(kinesis_event(viewed("alice", 1)), p)
        handle_event(kinesis_event(viewed("alice", 2)[1:]), p)
    finally:
        p.close()
    assert response["batchItemFailures"] == []
    assert result is not None and result.counts.users_refreshed == 1
    assert [r.user_id for r in recommender.requests] == ["alice", "alice"]


def test_a_failed_refresh_is_not_recorded(store: LocalStore) -> None:
    # Otherwise Lambda's redelivery of alice's record would skip the refresh it still owes.
    ledger = LocalRefreshLedger(store)
    sink = FakeSink(fail_users={"alice": RetryableError("503", service="segment")})
    p = pipeline(ledger, 300, sink=sink)
    try:
        response, _ = handle_event(kinesis_event(viewed("alice", 1)), p)
    finally:
        p.close()
    assert len(response["batchItemFailures"]) == 1
    assert ledger.refreshed_since(["alice"], datetime(2000, 1, 1).astimezone()) == set()


def test_the_setting_wires_the_local_ledger_end_to_end(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PUE_STATE_DIR": str(tmp_path / "state"), "PUE_REFRESH_MIN_INTERVAL_SECONDS": "3600"}
    )
    event = kinesis_event(viewed("alice", 3) + viewed("bob", 2))
    pipeline, wiring = build_pipeline(settings)
    try:
        assert isinstance(pipeline.ledger, LocalRefreshLedger)
        _, first = handle_event(event, pipeline)
        _, again = handle_event(event, pipeline)  # a redelivery, or the next batch within the hour
    finally:
        pipeline.close()
        assert wiring.local is not None
        wiring.local.close()
    assert first is not None and first.counts.users_refreshed == 2
    assert again is not None and again.counts.users_refreshed == 0 and again.counts.processed == 5
