"""A refresh mark made while a sweep runs survives that sweep (issue 21), on both ledgers.

The interleaving: alice refreshed at 0 s, owed at 5 s (due 60 s); a sweep at 61 s reads the mark and computes
her list; meanwhile a batch refreshes her in-batch (its own refresh, which settles the old mark) and a batch
at 61.5 s marks her owed again (due 60 s after that refresh). Then the sweep records its refresh. Before the
fix the sweep's unconditional clear erased the new mark (nothing was ever due again) and, on DynamoDB, moved
``refreshed_at`` back to 61 s. Everything runs through the real pipeline, sweep and ledger; the batches run
from inside the recommender's answer to the sweep, exactly between its read and its clear.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from consumers.stream.refresh_sweep import sweep_owed_refreshes
from destinations.local import LocalBackend
from destinations.ports import RefreshLedger
from schemas.recommendation import Recommendation, RecommendationRequest
from schemas.refresh import OwedRefresh
from tests.factories import kinesis_event
from tests.fakes import FakeRecommender, FakeSink
from tests.unit.test_refresh_owed import INTERVAL, T0, Clock, ledger, local, make, view

__all__ = ["ledger", "local"]  # the fixtures, shared with test_refresh_owed


class BatchesDuringTheSweep(FakeRecommender):
    """Answers like FakeRecommender; while ``during`` is set, the first call (the sweep's) first runs it."""

    def __init__(self) -> None:
        super().__init__()
        self.during: list[object] = []

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        if self.during:
            run = self.during.pop()
            assert callable(run)
            run()
        return super().get_recommendations(request)


# 61.2 s: the refreshing batch started after the sweep (its refresh is later than the sweep's).
# 60.9 s: it started just before the sweep but recorded after the sweep read: only the mark tells them apart.
@pytest.mark.parametrize("in_batch_at", [61.2, 60.9])
def test_a_mark_made_while_the_sweep_computes_survives_the_sweep(
    local: LocalBackend, ledger: RefreshLedger, in_batch_at: float
) -> None:
    clock, recommender, sink = Clock(), BatchesDuringTheSweep(), FakeSink()
    p = make(local, clock, recommender, sink, ledger)

    def two_batches(p: Pipeline = p) -> None:
        clock.at(in_batch_at)
        _, refreshed = handle_event(kinesis_event([view("c", 3)]), p)
        clock.at(61.5)
        _, owed = handle_event(kinesis_event([view("d", 4)]), p)
        assert refreshed is not None and refreshed.counts.users_refreshed == 1  # in-batch
        assert owed is not None and owed.counts.users_refreshed == 0  # postponed: owed again
        clock.at(61)  # back to the sweep's own time

    try:
        handle_event(kinesis_event([view("a", 1)]), p)  # t=0: refreshed
        clock.at(5)
        handle_event(kinesis_event([view("b", 2)]), p)  # t=5: owed, due at 60
        clock.at(61)
        recommender.during.append(two_batches)
        swept = sweep_owed_refreshes(p)  # reads the mark, computes (the batches run), then clears
        assert recommender.during == []  # the batches did run inside the sweep
        due_again = T0 + timedelta(seconds=in_batch_at + INTERVAL)
        assert ledger.due(due_again - timedelta(seconds=0.05), 10) == []
        assert ledger.due(due_again, 10) == [OwedRefresh("alice", due_again)]
        # refreshed_at never moved back to the sweep's 61 s (only the later in-batch time counts).
        latest = max(in_batch_at, 61.0)
        assert ledger.refreshed_since(["alice"], T0 + timedelta(seconds=latest)) == {"alice"}
        clock.at(in_batch_at + INTERVAL)
        later = sweep_owed_refreshes(p)  # the owed refresh is delivered, not dropped
    finally:
        p.close()
    assert swept.refreshed == 1 and later.refreshed == 1
    # t=0, the in-batch refresh, the first sweep, the later sweep.
    assert len(sink.published) == 4
    assert sink.published[-1].refresh_key == f"owed@{due_again.timestamp():.3f}"


def test_a_refresh_recorded_out_of_order_never_moves_refreshed_at_back(ledger: RefreshLedger) -> None:
    ledger.record(["u1"], T0 + timedelta(seconds=10))
    ledger.owe(["u1"], timedelta(seconds=INTERVAL))
    ledger.record(["u1"], T0)  # a batch that started earlier, recorded later
    assert ledger.refreshed_since(["u1"], T0 + timedelta(seconds=10)) == {"u1"}
    # ...and the mark made after the later refresh is not the earlier refresh's to clear.
    assert ledger.due(T0 + timedelta(seconds=10 + INTERVAL), 10) == [
        OwedRefresh("u1", T0 + timedelta(seconds=10 + INTERVAL))
    ]


def test_a_sweep_clears_the_mark_it_read_and_nothing_else(ledger: RefreshLedger) -> None:
    ledger.record(["u1", "u2"], T0)
    ledger.owe(["u1", "u2"], timedelta(seconds=INTERVAL))
    owed = ledger.due(T0 + timedelta(seconds=INTERVAL), 10)
    assert {o.user_id for o in owed} == {"u1", "u2"}
    ledger.settle([o for o in owed if o.user_id == "u1"], T0 + timedelta(seconds=INTERVAL + 1))
    assert [o.user_id for o in ledger.due(T0 + timedelta(days=1), 10)] == ["u2"]
    assert ledger.refreshed_since(["u1", "u2"], T0 + timedelta(seconds=INTERVAL + 1)) == {"u1"}
