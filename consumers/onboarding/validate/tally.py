"""What a dataset holds, counted on disk: rows, duplicates, users (and how active), items, event types.

Like ``pue export``, ``pue validate`` keeps what grows with the file in a throwaway SQLite file (keys are
64-bit hashes of the text, see ``consumers.onboarding.export.scratch``), so checking a 10 GB CSV costs a
bounded amount of memory. Event types are counted in memory: a dataset has a handful, and Personalize allows
at most 10 fields and event types together.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from schemas.limits import PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS

_CACHE_KIB: Final = 16 * 1024
_MAX_EVENT_TYPES: Final = 1_000  # beyond this, stop counting new ones (they are not event types)
_SCHEMA: Final = """
CREATE TABLE rows (key INTEGER PRIMARY KEY, line INTEGER NOT NULL);
CREATE TABLE users (key INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE items (key INTEGER PRIMARY KEY);
"""


class Tally:
    def __init__(self, parent: Path | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="pue-validate-", dir=parent))
        self._conn = sqlite3.connect(str(self._dir / "tally.sqlite3"), isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{_CACHE_KIB}"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.executescript(_SCHEMA)
        self._conn.execute("BEGIN")
        self.rows = 0
        self.duplicates = 0
        self.first_duplicate: tuple[int, int] | None = None  # (line, the earlier line it repeats)
        self.event_types: dict[str, int] = {}
        self.first_time: int | None = None
        self.last_time: int | None = None

    def close(self) -> None:
        self._conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Tally:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def row(self, key_parts: Sequence[str], line: int) -> int | None:
        """Count a row; the line of an earlier row with the same key (the whole row for interactions,
        the id for items and users) when this one repeats it."""
        self.rows += 1
        key = hash(tuple(key_parts))
        if self._conn.execute("INSERT OR IGNORE INTO rows (key, line) VALUES (?, ?)", (key, line)).rowcount:
            return None
        self.duplicates += 1
        found = self._conn.execute("SELECT line FROM rows WHERE key = ?", (key,)).fetchone()
        if self.first_duplicate is None:
            self.first_duplicate = (line, int(found[0]))
        return int(found[0])

    def user(self, user_id: str) -> None:
        self._conn.execute(
            "INSERT INTO users (key, n) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1",
            (hash(user_id),),
        )

    def item(self, item_id: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO items (key) VALUES (?)", (hash(item_id),))

    def event_type(self, name: str) -> None:
        if name in self.event_types or len(self.event_types) < _MAX_EVENT_TYPES:
            self.event_types[name] = self.event_types.get(name, 0) + 1

    def timestamp(self, value: int) -> None:
        self.first_time = value if self.first_time is None else min(self.first_time, value)
        self.last_time = value if self.last_time is None else max(self.last_time, value)

    @property
    def unique_rows(self) -> int:
        return self.rows - self.duplicates

    def users(self) -> tuple[int, int]:
        """(distinct users, users with at least 2 rows)."""
        found = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(n >= ?), 0) FROM users",
            (PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS,),
        ).fetchone()
        return int(found[0]), int(found[1])

    def items(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
