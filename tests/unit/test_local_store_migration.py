"""A state dir written by an earlier pue (version-1 interactions layout) is migrated in place on open, in one
transaction: every event comes back as it was, in the same order; a failed migration changes nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from destinations.local import LocalPurchaseHistory, LocalStore
from destinations.local.store import STORE_FILE_NAME
from schemas.errors import PermanentError
from schemas.interaction import Interaction

# Version 1's interactions table and indexes, as pue wrote them before the compact layout (issue 15).
VERSION_1_SCHEMA = """
CREATE TABLE interactions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    session_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    sent_ts REAL NOT NULL,
    user_id TEXT,
    item_id TEXT,
    event_value REAL,
    properties TEXT,
    recommendation_id TEXT,
    impression TEXT NOT NULL
);
CREATE INDEX interactions_by_user ON interactions (user_id, sent_ts, seq);
CREATE INDEX interactions_of_types_25946acaf98efb19 ON interactions (user_id, item_id)
    WHERE event_type IN ('Order Completed');
CREATE TABLE traits (
    user_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, message_id TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
"""

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=2))
EVENTS = [  # in arrival order; m-3 (11:59:59Z) arrived after the first but happened before it
    Interaction("47d43398-5b11-bb37-b54c-395077616364", "Product Viewed", "anon-1", T0, "u1", "i1"),
    Interaction("m-2", "Order Completed", "anon-1", T0 + timedelta(minutes=5), "u1", "i2", event_value=2.5),
    Interaction(
        "m-3",
        "Product Clicked",
        "anon-1",
        datetime(2024, 5, 1, 13, 59, 59, 123456, tzinfo=PARIS),
        "u1",
        "i3",
        properties='{"discount": "yes"}',
        recommendation_id="RID-1",
        impression=("i3", "i4"),
    ),
    Interaction("m-4", "Product Viewed", "anon-2", T0 + timedelta(minutes=1), None, "i1"),
    Interaction("m-5", "Product Viewed", "anon-1", T0 + timedelta(minutes=5), "u1", "i5"),
]


def write_version_1(state: Path, events: list[Interaction]) -> Path:
    """A store as version 1's LocalStore wrote it (same columns, same encoding)."""
    state.mkdir(parents=True)
    path = state / STORE_FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.executescript(VERSION_1_SCHEMA)
        conn.executemany(
            "INSERT INTO interactions (event_id, event_type, session_id, sent_at, user_id, item_id, "
            "event_value, properties, recommendation_id, impression, sent_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    it.event_id,
                    it.event_type,
                    it.session_id,
                    it.sent_at.isoformat(),
                    it.user_id,
                    it.item_id,
                    it.event_value,
                    it.properties,
                    it.recommendation_id,
                    json.dumps(list(it.impression)),
                    it.sent_at.timestamp(),
                )
                for it in events
            ],
        )
        conn.execute("INSERT INTO traits VALUES ('u1', 'tier', '\"gold\"', 'm')")
    conn.close()
    return path


def columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {str(row[1]) for row in conn.execute("PRAGMA table_info(interactions)")}
    conn.close()
    return names


def test_a_version_1_store_is_migrated_on_open_with_every_event_as_it_was(tmp_path: Path) -> None:
    path = write_version_1(tmp_path / "state", EVENTS)
    with LocalStore.in_state_dir(tmp_path / "state") as store:
        assert store.interaction_count() == 5
        # time order, equal times in arrival order (m-2 before m-5), offsets and every field intact
        assert store.interactions_for("u1") == [EVENTS[2], EVENTS[0], EVENTS[1], EVENTS[4]]
        assert store.interactions_for("u1")[0].sent_at.utcoffset() == timedelta(hours=2)
        assert store.interactions_for("anon-2", session=True) == [EVENTS[3]]
        assert store.known_users() == ["u1"]
        assert store.traits_for("u1") == {"tier": "gold"}
        # redeliveries of migrated events are still recognised; new ones arrive after them
        again = Interaction("m-6", "Product Viewed", "anon-1", T0, "u1", "i6")
        assert store.add_interactions([EVENTS[1], EVENTS[0], again]) == [again]
        assert store.interactions_for("u1")[2] == again  # same time as the first, arrived after every old row
        assert LocalPurchaseHistory(store).purchased_items("u1") == {"i2"}
        with store.transaction(write=False) as conn:
            tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_schema")}
            seqs = [int(row[0]) for row in conn.execute("SELECT seq FROM interactions ORDER BY seq")]
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert "interactions_version_1" not in tables
    assert "interactions_of_types_25946acaf98efb19" in tables  # rebuilt over the new columns
    assert "event_hash" in columns(path) and "sent_at" not in columns(path)
    with LocalStore.in_state_dir(tmp_path / "state") as reopened:  # a second open has nothing to do
        assert reopened.interaction_count() == 6


def test_a_migration_that_fails_leaves_the_store_as_it_was_and_says_what_to_do(tmp_path: Path) -> None:
    broken = [*EVENTS[:2], EVENTS[2]]
    path = write_version_1(tmp_path / "state", broken)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE interactions SET sent_at = 'not a time' WHERE event_id = 'm-3'")
    conn.close()
    with pytest.raises(PermanentError, match="could not be migrated.*fresh --state directory"):
        LocalStore.in_state_dir(tmp_path / "state")
    assert "sent_at" in columns(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM interactions").fetchone() == (3,)
        names = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_schema")}
    conn.close()
    assert "interactions_by_user" in names and "interaction_names" not in names
