"""The local ``RefreshLedger``: one row per user in the local store, the time of its last refresh, and the
refreshes the interval postponed (``owed_refreshes``: at most one per user, settled by the next refresh)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from destinations.local.store import LocalStore
from schemas.refresh import OwedRefresh

# Owed refreshes live in their own table so a store created before them needs no migration.
LEDGER_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS refreshes (
    user_id TEXT PRIMARY KEY,
    refreshed_at REAL NOT NULL               -- epoch seconds
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS owed_refreshes (
    user_id TEXT PRIMARY KEY,
    due_at REAL NOT NULL                     -- epoch seconds: last refresh + interval
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owed_refreshes_due ON owed_refreshes (due_at);
"""
# Clear a user's mark unless a refresh later than this one is recorded (parameters: user id, user id, the
# refresh's time); the sweep's also only while the mark is the one it read (user id, mark, user id, time).
_CLEAR_MARK: Final = (
    "DELETE FROM owed_refreshes WHERE user_id = ? "
    "AND NOT EXISTS (SELECT 1 FROM refreshes r WHERE r.user_id = ? AND r.refreshed_at > ?)"
)
_CLEAR_READ_MARK: Final = (
    "DELETE FROM owed_refreshes WHERE user_id = ? AND due_at = ? "
    "AND NOT EXISTS (SELECT 1 FROM refreshes r WHERE r.user_id = ? AND r.refreshed_at > ?)"
)
# SQLite's default limit on host parameters is 999 in older builds: stay under it per statement.
_CHUNK: Final = 500


class LocalRefreshLedger:
    def __init__(self, store: LocalStore) -> None:
        store.ensure_schema(LEDGER_SCHEMA)
        self._store = store

    def refreshed_since(self, user_ids: Sequence[str], since: datetime) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(user_ids))
        with self._store.transaction(write=False) as conn:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT user_id FROM refreshes WHERE refreshed_at >= ? AND user_id IN ({marks})",  # noqa: S608 - placeholders only
                    (since.timestamp(), *chunk),
                )
                found.update(row[0] for row in rows)
        return found

    def record(self, user_ids: Sequence[str], at: datetime) -> None:
        unique = list(dict.fromkeys(user_ids))
        with self._store.transaction() as conn:
            # This refresh saw every event before it: whatever the user was owed is delivered, unless a
            # later refresh is recorded already (a mark made since then is not this refresh's to clear).
            conn.executemany(
                _CLEAR_MARK,
                [(user_id, user_id, at.timestamp()) for user_id in unique],
            )
            self._advance(conn, unique, at)

    def settle(self, owed: Sequence[OwedRefresh], at: datetime) -> None:
        with self._store.transaction() as conn:
            # Only the mark the sweep read: one made while it ran (after a refresh in a batch) differs.
            conn.executemany(
                _CLEAR_READ_MARK,
                [(o.user_id, _mark_of(o), o.user_id, at.timestamp()) for o in owed],
            )
            self._advance(conn, list(dict.fromkeys(o.user_id for o in owed)), at)

    @staticmethod
    def _advance(conn: sqlite3.Connection, user_ids: Sequence[str], at: datetime) -> None:
        """``refreshed_at`` = ``at`` unless a later refresh is recorded: it never moves backwards."""
        conn.executemany(
            "INSERT INTO refreshes (user_id, refreshed_at) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET refreshed_at = MAX(refreshed_at, excluded.refreshed_at)",
            [(user_id, at.timestamp()) for user_id in user_ids],
        )

    def owe(self, user_ids: Sequence[str], interval: timedelta) -> None:
        with self._store.transaction() as conn:
            conn.executemany(
                "INSERT INTO owed_refreshes (user_id, due_at) "
                "SELECT user_id, refreshed_at + ? FROM refreshes WHERE user_id = ? "
                "ON CONFLICT (user_id) DO NOTHING",
                [(interval.total_seconds(), user_id) for user_id in dict.fromkeys(user_ids)],
            )

    def due(self, now: datetime, limit: int) -> list[OwedRefresh]:
        with self._store.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT user_id, due_at FROM owed_refreshes WHERE due_at <= ? ORDER BY due_at LIMIT ?",
                (now.timestamp(), limit),
            ).fetchall()
        return [
            OwedRefresh(user_id, datetime.fromtimestamp(due_at, UTC), mark=repr(due_at))
            for user_id, due_at in rows
        ]


def _mark_of(owed: OwedRefresh) -> float:
    """The stored due time ``due`` read: exact (a datetime keeps microseconds only, the REAL column more)."""
    return float(owed.mark) if owed.mark else owed.due_at.timestamp()
