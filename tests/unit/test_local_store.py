"""The local store and the small local adapters over it: round-trips, idempotence, thread safety, errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from destinations.local import (
    LocalBackend,
    LocalDeadLetterSink,
    LocalEventTracker,
    LocalPersonasSink,
    LocalPinpointSink,
    LocalPurchaseHistory,
    LocalRecommender,
    LocalStore,
)
from destinations.local import store as store_module
from destinations.local.catalog import load_items_csv
from schemas.dead_letter import DeadLetter
from schemas.errors import PermanentError, RetryableError
from schemas.interaction import EventBatch, Interaction
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem
from schemas.traits import deterministic_message_id

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def event(
    n: int,
    user: str | None = "u1",
    item: str | None = "i1",
    *,
    minutes: int | None = None,
    event_type: str = "Product Viewed",
    session: str = "s1",
) -> Interaction:
    sent_at = T0 + timedelta(minutes=n if minutes is None else minutes)
    return Interaction(f"e{n}", event_type, session, sent_at, user, item)


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore.in_state_dir(tmp_path / "state")


def test_interaction_round_trip_keeps_every_field(store: LocalStore) -> None:
    full = Interaction(
        event_id="m-1",
        event_type="Product Clicked",
        session_id="s-9",
        sent_at=datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        user_id="u1",
        item_id="sku-1",
        event_value=19.5,
        properties='{"discount": "yes"}',
        recommendation_id="RID-abc",
        impression=("sku-1", "sku-2"),
    )
    bare = Interaction("m-2", "Product Viewed", "s-9", T0 + timedelta(hours=1), "u1")
    assert store.add_interactions([full, bare]) == [full, bare]
    got = store.interactions_for("u1")
    assert got == [full, bare]
    assert got[0].sent_at.utcoffset() == timedelta(hours=2)


def test_redelivered_events_add_nothing(store: LocalStore) -> None:
    first = [event(1), event(2)]
    assert store.add_interactions(first) == first
    assert store.add_interactions([event(2), event(3), event(3)]) == [event(3)]
    assert store.add_interactions(first) == []
    assert store.interaction_count() == 3


def test_interactions_for_orders_by_time_then_arrival_and_limits_to_latest(store: LocalStore) -> None:
    store.add_interactions([event(1, minutes=30), event(2, minutes=10), event(3, minutes=30), event(4, "u2")])
    assert [i.event_id for i in store.interactions_for("u1")] == ["e2", "e1", "e3"]
    assert [i.event_id for i in store.interactions_for("u1", limit=2)] == ["e1", "e3"]
    assert store.interactions_for("nobody") == []


def test_known_users_most_active_first(store: LocalStore) -> None:
    store.add_interactions([event(1, "a"), event(2, "b"), event(3, "b"), event(4, None), event(5, "c")])
    store.add_interactions([event(6, "c"), event(7, "c")])
    assert store.known_users() == ["c", "b", "a"]
    assert store.known_users(limit=1) == ["c"]


def test_traits_are_replaced_per_name(store: LocalStore) -> None:
    store.set_traits("u1", {"recommended_products": ["a", "b"], "tier": "gold"}, "m1")
    store.set_traits("u1", {"recommended_products": ["c"]}, "m2")
    assert store.traits_for("u1") == {"recommended_products": ["c"], "tier": "gold"}
    assert store.traits_for("u2") == {}


def test_endpoint_attributes_are_replaced_per_attribute(store: LocalStore) -> None:
    store.set_endpoint_attributes("u1", "u1-default", {"recommended_products": ["a"], "x": ["1"]})
    store.set_endpoint_attributes("u1", "u1-default", {"recommended_products": ["b", "c"]})
    store.set_endpoint_attributes("u1", "u1-phone", {"x": []})
    assert store.endpoint_attributes_for("u1") == {
        "u1-default": {"recommended_products": ["b", "c"], "x": ["1"]},
        "u1-phone": {"x": []},
    }


def test_dead_letters_are_unique_and_newest_first(store: LocalStore) -> None:
    poison = DeadLetter(b"\xff\x00not json", "undecodable", "shard-1", "49", None, "arn:aws:kinesis:x")
    other = DeadLetter(b"{}", "not a Segment message", "shard-1", "49", 2)
    store.add_dead_letters([poison])
    store.add_dead_letters([poison, other])
    assert store.dead_letter_count() == 2
    assert store.dead_letters() == [other, poison]
    assert store.dead_letters(limit=1) == [other]


def test_items_upsert_replaces_and_lookup_skips_unknown(store: LocalStore, tmp_path: Path) -> None:
    store.upsert_items({"a": {"NAME": "Lamp", "PRICE": 10}, "b": {"NAME": "Desk"}})
    store.upsert_items({"a": {"NAME": "Lamp v2"}})
    assert store.items(["b", "zzz", "a", "b"]) == {"b": {"NAME": "Desk"}, "a": {"NAME": "Lamp v2"}}
    csv_file = tmp_path / "items.csv"
    csv_file.write_text("ITEM_ID,NAME,CATEGORY\nc,Chair,furniture|office\nd,,\n", encoding="utf-8")
    assert load_items_csv(store, csv_file) == 2
    assert store.items(["c", "d"]) == {"c": {"NAME": "Chair", "CATEGORY": "furniture|office"}, "d": {}}
    (tmp_path / "bad.csv").write_text("ID,NAME\nx,y\n", encoding="utf-8")
    with pytest.raises(PermanentError):
        load_items_csv(store, tmp_path / "bad.csv")


def test_data_survives_reopen(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    with LocalStore.in_state_dir(state) as first:
        first.add_interactions([event(1)])
        first.set_traits("u1", {"t": 1}, "m")
    assert (state / "pue.sqlite3").exists()
    with LocalStore.in_state_dir(state) as again:
        assert again.interactions_for("u1") == [event(1)]
        assert again.traits_for("u1") == {"t": 1}
        assert again.add_interactions([event(1)]) == []


def test_failed_transaction_leaves_nothing(store: LocalStore) -> None:
    with pytest.raises(ValueError, match="boom"), store.transaction():
        store.add_interactions([event(1)])
        raise ValueError("boom")
    assert store.interaction_count() == 0
    store.add_interactions([event(1)])
    assert store.interaction_count() == 1


def test_locked_store_is_retryable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 0.01)
    store = LocalStore.in_state_dir(tmp_path)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(RetryableError):
            store.add_interactions([event(1)])
        letter = DeadLetter(b"x", "bad", "shard-1", "1")
        report = LocalDeadLetterSink(store).send([letter])
        assert set(report.failed) == {letter.letter_id}
        assert report.failed[letter.letter_id].retryable
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.interaction_count() == 0
    store.close()


class RecordingRecommender(LocalRecommender):
    def __init__(self, store: LocalStore) -> None:
        super().__init__(store)
        self.learned: list[str] = []

    def learn(self, interactions: Sequence[Interaction]) -> None:
        self.learned.extend(i.event_id for i in interactions)
        super().learn(interactions)


def test_tracker_feeds_only_new_interactions(store: LocalStore) -> None:
    recommender = RecordingRecommender(store)
    tracker = LocalEventTracker(store, recommender)
    tracker.put_events(EventBatch("s1", "u1", (event(1), event(2))))
    tracker.put_events(EventBatch("s1", "u1", (event(2), event(3))))
    tracker.put_events(EventBatch("s1", "u1", (event(1),)))
    assert recommender.learned == ["e1", "e2", "e3"]
    assert store.interaction_count() == 3


def test_concurrent_put_events_all_land(tmp_path: Path) -> None:
    backend = LocalBackend.open(tmp_path)
    users = [f"user-{n}" for n in range(24)]

    def track(user: str) -> None:
        for batch in range(5):
            events = tuple(
                Interaction(
                    f"{user}-{batch}-{k}",
                    "Product Viewed",
                    user,
                    T0 + timedelta(seconds=k),
                    user,
                    "shared" if k == 0 else f"{user}-item-{batch}-{k}",
                )
                for k in range(10)
            )
            backend.tracker.put_events(EventBatch(user, user, events))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(track, users))
    assert backend.store.interaction_count() == len(users) * 50
    assert all(len(backend.store.interactions_for(u)) == 50 for u in users)
    # the model saw every event: "shared" is the one item every user has, so it leads for a cold user
    top = backend.recommender.get_recommendations(RecommendationRequest("someone-new", num_results=3))
    assert top.items[0].item_id == "shared"
    backend.close()


def recommendation(user: str, items: list[str], refresh_key: str = "e9") -> Recommendation:
    return Recommendation(user, "RID-1", tuple(ScoredItem(i, 0.5) for i in items), refresh_key)


def test_personas_sink_writes_traits_with_deterministic_message_id(store: LocalStore) -> None:
    sink = LocalPersonasSink(store)
    rec = recommendation("u1", ["a", "b"])
    assert sink.name == "personas"
    assert sink.publish([rec]).ok
    assert sink.publish([rec]).ok  # redelivery: same write
    assert store.traits_for("u1") == {"recommended_products": ["a", "b"], "recommended_products_str": "a,b"}
    with store.transaction(write=False) as conn:
        rows = conn.execute("SELECT DISTINCT message_id FROM traits WHERE user_id = 'u1'").fetchall()
    assert rows == [(deterministic_message_id(rec, "personas"),)]


def test_pinpoint_sink_writes_the_default_endpoint_within_limits(store: LocalStore) -> None:
    sink = LocalPinpointSink(store)
    too_long = "x" * 101
    report = sink.publish([recommendation("u1", ["a", too_long, "b"]), recommendation("", ["a"])])
    assert sink.name == "pinpoint"
    assert set(report.failed) == {""}
    assert not report.failed[""].retryable
    assert store.endpoint_attributes_for("u1") == {"u1-default": {"recommended_products": ["a", "b"]}}
    sink.publish([recommendation("u1", ["c"])])
    assert store.endpoint_attributes_for("u1") == {"u1-default": {"recommended_products": ["c"]}}


def test_dead_letter_sink_keeps_each_letter_once(store: LocalStore) -> None:
    sink = LocalDeadLetterSink(store)
    letter = DeadLetter(b"\x00", "undecodable", "shard-1", "7")
    assert sink.send([letter]).ok
    assert sink.send([letter]).ok
    assert sink.send([]).ok
    assert store.dead_letters() == [letter]


def test_purchase_history_is_items_with_purchase_events(store: LocalStore) -> None:
    store.add_interactions(
        [
            event(1, item="a", event_type="Order Completed"),
            event(2, item="b"),
            event(3, item="c", event_type="Order Completed"),
            event(4, item=None, event_type="Order Completed"),
            event(5, "u2", item="d", event_type="Order Completed"),
            event(6, item="e", event_type="Bought"),
        ]
    )
    assert LocalPurchaseHistory(store).purchased_items("u1") == frozenset({"a", "c"})
    assert LocalPurchaseHistory(store, frozenset({"Bought"})).purchased_items("u1") == frozenset({"e"})
    assert LocalPurchaseHistory(store).purchased_items("nobody") == frozenset()


def test_a_new_store_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    new = LocalStore(tmp_path / "new.sqlite3")
    new.add_interactions([event(1)])
    old_path = tmp_path / "old.sqlite3"
    with sqlite3.connect(old_path) as conn:  # a store file written by an earlier pue: 4 KiB pages, WAL
        conn.execute("PRAGMA page_size=4096")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE earlier (x)")
    conn.close()
    old = LocalStore(old_path)
    old.add_interactions([event(2)])
    with new.transaction(write=False) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == store_module.PAGE_SIZE_BYTES == 16384
    with old.transaction(write=False) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert [it.event_id for it in old.interactions_for("u1")] == ["e2"]
