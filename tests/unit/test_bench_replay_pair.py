"""replay_pair's store comparison (tests/benchmarks/replay_pair.py): what it calls identical is the same
model and data by names, and a store that learned one more event differs where it should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from destinations.local.recommender import LocalRecommender
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker
from schemas.interaction import EventBatch, Interaction
from tests.benchmarks.replay_pair import COMPARED, digests

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def events(n: int) -> list[Interaction]:
    return [
        Interaction(
            f"e{i}", "Product Viewed", f"s{i % 4}", T0 + timedelta(minutes=i), f"u{i % 4}", f"i{i % 9}"
        )
        for i in range(n)
    ]


def stored(path: Path, interactions: list[Interaction], batch: int) -> Path:
    store = LocalStore(path)
    tracker = LocalEventTracker(store, LocalRecommender(store))
    for start in range(0, len(interactions), batch):
        with tracker.batch():
            for it in interactions[start : start + batch]:
                tracker.put_events(EventBatch(it.session_id, it.user_id, (it,)))
    store.close()
    return path


def test_two_stores_of_the_same_replay_compare_identical(tmp_path: Path) -> None:
    # (Not across batch sizes: an item's popularity is summed per batch and its prune counter is batch
    # state, so model_items may differ in the last bits; the replays compared use the same batches.)
    one = digests(stored(tmp_path / "one.sqlite3", events(40), batch=16))
    many = digests(stored(tmp_path / "many.sqlite3", events(40), batch=16))
    assert one == many
    assert set(one) == set(COMPARED)
    assert one["model_pairs"][0] > 0 and one["interactions"][0] == 40


def test_one_more_event_differs_in_the_tables_it_changed(tmp_path: Path) -> None:
    base = digests(stored(tmp_path / "base.sqlite3", events(40), batch=8))
    more = digests(stored(tmp_path / "more.sqlite3", events(41), batch=8))
    different = {name for name in COMPARED if base[name] != more[name]}
    assert {"interactions", "model_history", "model_meta"} <= different
    assert "traits" not in different  # nothing wrote Personas traits in either
