"""The refresh interval delays a refresh, it never drops one: a user with events inside the interval is
refreshed once when it ends (consumers.stream.refresh_sweep), with what it did inside the interval taken into
account. Time is an injected clock: no sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.refresh_sweep_handler import sweep_while_time_lasts
from consumers.stream.event_map import EventMap
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline, RefreshOptions
from consumers.stream.refresh_sweep import SWEEP_MAX_USERS, periodic_sweeper, sweep_owed_refreshes
from destinations.aws.refresh_ledger import DynamoRefreshLedger
from destinations.local import LocalBackend
from destinations.local.refresh_ledger import LocalRefreshLedger
from destinations.ports import RefreshLedger
from schemas.errors import PermanentError, RetryableError
from schemas.refresh import OwedRefresh
from tests.contract.test_refresh_ledger import TABLE, dynamodb_table
from tests.factories import kinesis_event, segment_track
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
INTERVAL = 60


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> Clock:
        self.now = T0 + timedelta(seconds=seconds)
        return self


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend.open(tmp_path / "state")
    yield backend
    backend.close()


def make(
    local: LocalBackend,
    clock: Clock,
    recommender: FakeRecommender,
    sink: FakeSink,
    ledger: RefreshLedger | None = None,
) -> Pipeline:
    # The local tracker and purchase history are real: the purchase at t=5 s must reach the second list
    # through the store, not through a fake that knows the answer.
    return Pipeline(
        tracker=local.tracker,
        recommender=recommender,
        sinks=[sink],
        dead_letters=FakeDeadLetters(),
        purchases=local.purchases,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5, min_interval_seconds=INTERVAL),
        max_workers=2,
        ledger=ledger or LocalRefreshLedger(local.store),
        clock=clock,
    )


def view(item: str, n: int) -> dict[str, object]:
    return segment_track(
        "Product Viewed", user_id="alice", properties={"product_id": item}, message_id=f"v{n}"
    )


def purchase(item: str, n: int) -> dict[str, object]:
    return segment_track(
        "Order Completed",
        user_id="alice",
        properties={"products": [{"product_id": item}]},
        message_id=f"o{n}",
    )


@pytest.fixture(params=["sqlite", "dynamodb"])
def ledger(request: pytest.FixtureRequest, local: LocalBackend) -> Iterator[RefreshLedger]:
    """The ledger of the local backend, or the cloud one on moto's DynamoDB (the table as deployed)."""
    if request.param == "sqlite":
        yield LocalRefreshLedger(local.store)
        return
    with dynamodb_table() as client:
        yield DynamoRefreshLedger(client, TABLE, keep_seconds=INTERVAL)


def test_events_at_0_and_5_s_with_a_60_s_interval_give_exactly_two_refreshes(
    local: LocalBackend, ledger: RefreshLedger
) -> None:
    clock, recommender, sink = Clock(), FakeRecommender(items=("shoes", "socks", "hat")), FakeSink()
    p = make(local, clock, recommender, sink, ledger)
    try:
        handle_event(kinesis_event([view("shoes", 1)]), p)  # t=0: refreshed
        clock.at(5)
        _, second = handle_event(kinesis_event([purchase("socks", 2)]), p)  # t=5: tracked, postponed
        swept = [sweep_owed_refreshes(p) for _ in (clock.at(30), clock.at(59.9))]  # not due yet
        clock.at(60)
        due = sweep_owed_refreshes(p)
        later = [sweep_owed_refreshes(p) for _ in (clock.at(61), clock.at(200))]  # nothing owed any more
    finally:
        p.close()
    assert second is not None and second.counts.processed == 1 and second.counts.users_refreshed == 0
    assert [s.due for s in swept] == [0, 0]
    assert due.summary() == {"due": 1, "refreshed": 1, "rejected": 0, "failed": 0, "short": 0}
    assert [s.due for s in later] == [0, 0]
    assert [r.user_id for r in recommender.requests] == ["alice", "alice"]
    assert [r.item_ids for r in sink.published] == [("shoes", "socks", "hat"), ("shoes", "hat")]


def test_many_postponed_batches_of_one_user_collapse_into_one_refresh(local: LocalBackend) -> None:
    clock, recommender, sink = Clock(), FakeRecommender(), FakeSink()
    p = make(local, clock, recommender, sink)
    try:
        handle_event(kinesis_event([view("a", 1)]), p)
        for n, second in enumerate((5, 20, 40, 59), start=2):
            clock.at(second)
            handle_event(kinesis_event([view("b", n)]), p)
        clock.at(75)
        swept = sweep_owed_refreshes(p)
    finally:
        p.close()
    assert swept.refreshed == 1
    assert len(recommender.requests) == 2 and len(sink.published) == 2
    # The owed refresh keeps the first due time (last refresh + interval), not the last skip's.
    assert sink.published[1].refresh_key == f"owed@{(T0 + timedelta(seconds=INTERVAL)).timestamp():.3f}"


def test_a_batch_refresh_after_the_interval_settles_what_was_owed(local: LocalBackend) -> None:
    clock, recommender, sink = Clock(), FakeRecommender(), FakeSink()
    p = make(local, clock, recommender, sink)
    try:
        handle_event(kinesis_event([view("a", 1)]), p)
        clock.at(5)
        handle_event(kinesis_event([view("b", 2)]), p)
        clock.at(61)  # the user's next event comes before any sweep: its batch refreshes
        handle_event(kinesis_event([view("c", 3)]), p)
        clock.at(62)
        swept = sweep_owed_refreshes(p)
    finally:
        p.close()
    assert swept.due == 0
    assert len(recommender.requests) == 2


def test_a_failed_owed_refresh_stays_owed_and_a_rejected_one_is_settled(local: LocalBackend) -> None:
    clock, recommender = Clock(), FakeRecommender()
    sink = FakeSink(fail_users={"alice": RetryableError("503", service="segment")})
    p = make(local, clock, recommender, sink)
    try:
        handle_event(kinesis_event([view("a", 1)]), p)  # the sink fails: not recorded, nothing owed
        sink.fail_users.clear()
        clock.at(1)
        handle_event(kinesis_event([view("a", 1)]), p)  # Lambda's redelivery: refreshed, recorded
        clock.at(5)
        handle_event(kinesis_event([view("b", 2)]), p)
        sink.fail_users["alice"] = RetryableError("503", service="segment")
        clock.at(61)
        failed = sweep_owed_refreshes(p)
        sink.fail_users["alice"] = PermanentError("bad user", service="segment")
        clock.at(120)
        rejected = sweep_owed_refreshes(p)
        clock.at(180)
        after = sweep_owed_refreshes(p)
    finally:
        p.close()
    assert (failed.due, failed.failed, failed.refreshed) == (1, 1, 0)
    assert failed.failure_reasons == {"segment: 503": 1}
    assert (rejected.due, rejected.rejected) == (1, 1)
    assert after.due == 0


class LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.mark.parametrize(("remaining_ms", "refreshed"), [(50_000, 600), (5_000, SWEEP_MAX_USERS)])
def test_the_scheduled_handler_sweeps_the_backlog_while_time_lasts(
    local: LocalBackend, remaining_ms: int, refreshed: int
) -> None:
    clock, recommender, sink = Clock(), FakeRecommender(), FakeSink()
    p = make(local, clock, recommender, sink)
    users = [f"user-{n:03d}" for n in range(600)]  # more than one sweep call takes
    ledger = p.ledger
    assert ledger is not None
    try:
        ledger.record(users, T0)
        ledger.owe(users, timedelta(seconds=INTERVAL))
        clock.at(INTERVAL)
        total = sweep_while_time_lasts(p, LambdaContext(remaining_ms))
    finally:
        p.close()
    assert total.refreshed == refreshed
    assert len({r.user_id for r in sink.published}) == refreshed == len(sink.published)


def test_pue_consume_sweeps_once_per_period_and_a_failed_sweep_does_not_stop_it(local: LocalBackend) -> None:
    clock, recommender, sink = Clock(), FakeRecommender(), FakeSink()
    p = make(local, clock, recommender, sink)
    seconds = [0.0]
    calls: list[datetime] = []
    assert p.ledger is not None
    ledger: RefreshLedger = p.ledger

    class CountingLedger:
        def __getattr__(self, name: str) -> object:
            return getattr(ledger, name)

        def due(self, now: datetime, limit: int) -> list[OwedRefresh]:
            calls.append(now)
            if len(calls) == 2:
                raise RetryableError("throttled", service="dynamodb")
            return ledger.due(now, limit)

    p.ledger = CountingLedger()  # type: ignore[assignment]
    tick = periodic_sweeper(p, every=5.0, clock=lambda: seconds[0])
    assert tick is not None
    try:
        for seconds[0] in (0.0, 1.0, 4.9, 5.0, 9.0, 10.0):
            tick()  # sweeps at 0, 5 (fails, logged) and 10
    finally:
        p.close()
    assert len(calls) == 3


def test_no_sweeper_without_the_refresh_interval(local: LocalBackend) -> None:
    p = make(local, Clock(), FakeRecommender(), FakeSink())
    p.ledger = None
    try:
        assert periodic_sweeper(p) is None
    finally:
        p.close()
