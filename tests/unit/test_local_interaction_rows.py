"""The compact interactions layout (destinations/local/interaction_rows.py): exact round-trips, dedupe
through a hash that may collide, names stored once, and the readable view agreeing with the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from destinations.local import interaction_rows
from destinations.local.store import LocalStore
from schemas.interaction import Interaction

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UUID = "47d43398-5b11-bb37-b54c-395077616364"
SESSION = "0d6c1f1e-8a3e-4c8e-9a34-7d0c5b0e6f21"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore.in_state_dir(tmp_path / "state")


def stored_rows(store: LocalStore) -> list[tuple[object, ...]]:
    with store.transaction(write=False) as conn:
        return conn.execute(
            "SELECT event_id, utc_offset_us, impression FROM interactions ORDER BY seq"
        ).fetchall()


def test_a_forced_hash_collision_drops_no_distinct_event(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(interaction_rows, "event_hash", lambda event_id: 7)  # every id collides
    first = [
        Interaction(f"e{n}", "Product Viewed", "s1", T0 + timedelta(minutes=n), "u1", "i1") for n in range(4)
    ]
    assert store.add_interactions(first[:2]) == first[:2]
    assert store.add_interactions(first) == first[2:]  # same hash, different ids: all kept
    assert store.add_interactions([*first, first[0]]) == []  # the same ids: still dropped
    assert [i.event_id for i in store.interactions_for("u1")] == ["e0", "e1", "e2", "e3"]
    with store.transaction(write=False) as conn:
        assert conn.execute("SELECT DISTINCT event_hash FROM interactions").fetchall() == [(7,)]


def test_the_hash_is_stable_and_32_bit() -> None:
    # Stored in every state dir: it must not change between processes or versions (hash() is salted).
    assert interaction_rows.event_hash("msg-1") == interaction_rows.event_hash("msg-1")
    assert interaction_rows.event_hash("msg-1") != interaction_rows.event_hash("msg-2")
    assert interaction_rows.event_hash("msg-1") == -496579357
    assert interaction_rows.event_hash(UUID) == 517551723


@pytest.mark.parametrize(
    ("event_id", "packed"),
    [
        (UUID, True),
        (UUID.upper(), False),  # would read back lowercase
        (UUID + "#0", False),  # a multi-product event's derived id
        (UUID.replace("-", " "), False),
        ("47d43398-5b11-bb37-b54c-39507761636z", False),
        ("47d433985-b11-bb37-b54c-395077616364", False),
        ("ajs-next-1700000000000-abc", False),
    ],
)
def test_event_ids_round_trip_and_only_canonical_uuids_are_packed(
    store: LocalStore, event_id: str, packed: bool
) -> None:
    it = Interaction(event_id, "Product Viewed", "s1", T0, "u1", "i1")
    assert store.add_interactions([it]) == [it]
    assert store.interactions_for("u1") == [it]
    assert store.add_interactions([it]) == []
    ((stored, _, _),) = stored_rows(store)
    assert isinstance(stored, (bytes, str))
    assert isinstance(stored, bytes) == packed
    assert len(stored) == (16 if packed else len(event_id))


@pytest.mark.parametrize(
    "sent_at",
    [
        datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 5, 1, 14, 30, 15, 1, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # before the epoch
        datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=45, seconds=7))),
        datetime(2024, 5, 1, 14, 30, 15, 5),  # naive: not what normalize makes, still kept as it was
    ],
)
def test_sent_at_round_trips_exactly_with_its_offset(store: LocalStore, sent_at: datetime) -> None:
    it = Interaction("e1", "Product Viewed", "s1", sent_at, "u1", "i1")
    store.add_interactions([it])
    (got,) = store.interactions_for("u1")
    assert got == it
    assert got.sent_at.isoformat() == sent_at.isoformat()  # same wall time and offset, not just the instant
    assert got.sent_at.utcoffset() == sent_at.utcoffset()


def test_has_interactions_is_about_the_user_not_the_session_or_item(store: LocalStore) -> None:
    assert not store.has_interactions("u1")
    store.add_interactions([Interaction("e1", "Product Viewed", "s1", T0, "u1", "i1")])
    store.add_interactions([Interaction("e2", "Product Viewed", "anon", T0, None, "i2")])
    assert store.has_interactions("u1")
    assert not store.has_interactions("i1")  # an interned name, but no user's
    assert not store.has_interactions("anon")
    assert not store.has_interactions("nobody")


def test_utc_reads_back_as_timezone_utc_and_costs_no_offset_bytes(store: LocalStore) -> None:
    store.add_interactions([Interaction("e1", "Product Viewed", "s1", T0, "u1", "i1")])
    (got,) = store.interactions_for("u1")
    assert got.sent_at.tzinfo is UTC
    assert stored_rows(store)[0][1] == 0


def test_an_empty_impression_is_null_and_a_full_one_round_trips(store: LocalStore) -> None:
    bare = Interaction("e1", "Product Viewed", "s1", T0, "u1", "i1")
    shown = Interaction("e2", "Product Viewed", "s1", T0, "u1", "i1", impression=("i1", "i2"))
    store.add_interactions([bare, shown])
    assert [row[2] for row in stored_rows(store)] == [None, '["i1", "i2"]']
    assert store.interactions_for("u1") == [bare, shown]


def test_names_are_stored_once_and_shared_by_role(store: LocalStore) -> None:
    # "x" is a user and an item: one name row; sessions are kept in the row; anonymous events have no user.
    store.add_interactions(
        [
            Interaction("e1", "Product Viewed", "x", T0, "x", "x"),
            Interaction("e2", "Product Viewed", "anon-1", T0, None, "x"),
        ]
    )
    with store.transaction(write=False) as conn:
        names = sorted(str(row[0]) for row in conn.execute("SELECT name FROM interaction_names"))
    assert names == ["Product Viewed", "x"]
    assert [i.event_id for i in store.interactions_for("anon-1", session=True)] == ["e2"]
    assert [i.user_id for i in store.interactions_for("x", session=True)] == ["x"]


def test_a_rolled_back_batch_leaves_no_names_and_later_ids_stay_right(store: LocalStore) -> None:
    store.ensure_event_type_index(frozenset({"Order Completed"}))
    with pytest.raises(ValueError, match="undo"), store.transaction():
        store.add_interactions([Interaction("e1", "Product Added", "s1", T0, "u1", "gone")])
        raise ValueError("undo")
    store.add_interactions([Interaction("e2", "Order Completed", "s2", T0, "u2", "kept")])
    assert store.item_ids_with_event_types("u2", frozenset({"Order Completed"})) == {"kept"}
    assert store.item_ids_with_event_types("u1", frozenset({"Order Completed"})) == frozenset()
    with store.transaction(write=False) as conn:
        names = {str(row[0]) for row in conn.execute("SELECT name FROM interaction_names")}
    assert "gone" not in names


def test_the_readable_view_shows_what_the_store_returns(store: LocalStore) -> None:
    events = [
        Interaction(UUID, "Product Viewed", SESSION, T0, "u1", "i1", impression=("i1",)),
        Interaction("m-2", "Order Completed", "s1", T0 + timedelta(seconds=1.5), "u1", "i2", event_value=3.0),
        Interaction("m-3", "Product Viewed", "anon", T0, None, None),
    ]
    store.add_interactions(events)
    assert [i.event_id for i in store.interactions_for(SESSION, session=True)] == [UUID]
    with store.transaction(write=False) as conn:
        assert conn.execute("SELECT typeof(session) FROM interactions WHERE seq = 1").fetchone() == ("blob",)
        rows = conn.execute(
            "SELECT event_id, event_type, session_id, user_id, item_id, sent_ts, event_value, impression "
            "FROM interactions_readable ORDER BY seq"
        ).fetchall()
    assert rows == [
        (UUID, "Product Viewed", SESSION, "u1", "i1", T0.timestamp(), None, '["i1"]'),
        ("m-2", "Order Completed", "s1", "u1", "i2", T0.timestamp() + 1.5, 3.0, "[]"),
        ("m-3", "Product Viewed", "anon", None, None, T0.timestamp(), None, "[]"),
    ]


def test_usual_and_unusual_rows_interleaved_keep_arrival_order_and_every_field(store: LocalStore) -> None:
    # insert() writes usual rows (NULL columns left out of the statement) apart from the others: the
    # arrival order (seq) and every field must come back as if each row had been inserted in turn.
    naive = datetime(2024, 5, 1, 12, 0, 5)
    shapes = [
        Interaction(UUID, "Product Viewed", SESSION, T0, "u1", "i1"),  # usual, packed ids
        Interaction("e2", "Product Viewed", "s1", T0 + timedelta(seconds=1), None, "i2"),  # usual, anonymous
        Interaction("e3", "Order Completed", "s1", T0, "u1", "i3", event_value=9.99),
        Interaction("e4", "Product Viewed", "s1", naive, "u1", "i4"),  # naive time: NULL offset
        Interaction("e5", "Product Viewed", "s1", T0, "u1", None),  # no item
        Interaction("e6", "Product Viewed", "s1", T0, "u1", "i6", properties='{"size": "L"}'),
        Interaction("e7", "Product Viewed", "s1", T0, "u1", "i7", recommendation_id="r1"),
        Interaction("e8", "Product Viewed", "s1", T0, "u1", "i8", impression=("i1", "i2")),
        Interaction("e9", "Product Viewed", "s1", T0 + timedelta(seconds=2), "u2", "i9"),  # usual again
    ]
    store.add_interactions(shapes[:4])
    store.add_interactions(shapes[4:])
    with store.transaction(write=False) as conn:
        rows = conn.execute(f"{interaction_rows.SELECT_SQL} ORDER BY i.seq").fetchall()
        seqs = [seq for (seq,) in conn.execute("SELECT seq FROM interactions ORDER BY seq")]
    assert [interaction_rows.interaction(row) for row in rows] == shapes
    assert seqs == list(range(1, len(shapes) + 1))
