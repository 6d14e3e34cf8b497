"""The local ``RefreshLedger``: one row per user in the local store, the time of its last refresh, and the
refreshes the interval postponed (``owed_refreshes``: at most one per user, settled by the next refresh)."""

from __future__ import annotations

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
        unique = [(user_id,) for user_id in dict.fromkeys(user_ids)]
        with self._store.transaction() as conn:
            conn.executemany(
                "INSERT INTO refreshes (user_id, refreshed_at) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET refreshed_at = MAX(refreshed_at, excluded.refreshed_at)",
                [(user_id, at.timestamp()) for (user_id,) in unique],
            )
            # This refresh saw every event before it: whatever the user was owed is delivered.
            conn.executemany("DELETE FROM owed_refreshes WHERE user_id = ?", unique)

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
        return [OwedRefresh(user_id, datetime.fromtimestamp(due_at, UTC)) for user_id, due_at in rows]
