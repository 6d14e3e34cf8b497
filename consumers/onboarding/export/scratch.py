"""The export's working memory, on disk: a throwaway SQLite file, so RSS stays flat on any input size.

What an export must remember grows with its input: every event id seen (to drop repeats), one
anonymousId -> userId link per anonymous id, the anonymous interactions waiting for a link, each user's
interaction count and traits, each item's properties. Held in Python objects, a million event ids alone
cost ~100 MB. Here each lives in a table of one SQLite file in a private temporary directory, with a
bounded page cache; the operating system's file cache, not the process, holds the hot pages.

Event ids are stored as 64-bit hashes (Python's SipHash ``hash()``, stable within one process, which is
all one export needs): an INTEGER PRIMARY KEY is the cheapest unique index SQLite has. Two distinct ids
collide with probability about n²/2⁶⁵: 3 in 100 million for a million interactions, 3 in 100 for a
billion. A collision drops one interaction as a "duplicate"; nothing is ever merged or corrupted.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

# The page cache SQLite may keep in this process (negative = KiB): a hard ceiling on what the scratch
# file adds to RSS, whatever its size on disk.
_CACHE_KIB: Final = 16 * 1024

_SCHEMA: Final = """
CREATE TABLE seen_events (key INTEGER PRIMARY KEY);
CREATE TABLE links (anonymous_id TEXT PRIMARY KEY, user_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE pending (anonymous_id TEXT NOT NULL, row TEXT NOT NULL);
CREATE TABLE user_counts (user_id TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE fields (
    kind TEXT NOT NULL, id TEXT NOT NULL, column TEXT NOT NULL, value TEXT,
    PRIMARY KEY (kind, id, column)
) WITHOUT ROWID;
"""


class Scratch:
    """One export's scratch file. Single-threaded; ``close()`` deletes the file and its directory."""

    def __init__(self, parent: Path | None = None) -> None:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix="pue-export-", dir=parent))
        # isolation_level=None: transactions are explicit (``begin``/``commit``) and span a whole chunk.
        self.conn = sqlite3.connect(str(self._dir / "scratch.sqlite3"), isolation_level=None)
        # A crash loses nothing worth keeping (the export starts over), so skip the journal and fsyncs.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self.conn.execute("PRAGMA temp_store=FILE")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    # event ids: the same dedupe as the stream's store (unique event_id), on 8 bytes per id

    def first_seen(self, event_ids: Sequence[str]) -> list[bool]:
        """For each id, whether this is its first appearance (in this call or any earlier one)."""
        insert = self.conn.execute
        statement = "INSERT OR IGNORE INTO seen_events (key) VALUES (?)"
        return [insert(statement, (hash(event_id),)).rowcount == 1 for event_id in event_ids]

    # per-user interaction counts, for the summary and Personalize's minimums

    def count_users(self, user_ids: Iterable[str]) -> None:
        self.conn.executemany(
            "INSERT INTO user_counts (user_id, n) VALUES (?, 1) "
            "ON CONFLICT (user_id) DO UPDATE SET n = n + 1",
            ((user_id,) for user_id in user_ids),
        )

    def user_totals(self, active_minimum: int) -> tuple[int, int]:
        """(users with interactions, users with at least ``active_minimum`` of them)."""
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(n >= ?), 0) FROM user_counts", (active_minimum,)
        ).fetchone()
        return int(row[0]), int(row[1])

    # users' traits and items' properties: the last value seen for a field wins, like an identify call

    def set_fields(self, kind: str, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Upsert (id, column, value) rows; a None value only records that the id exists."""
        self.conn.executemany(
            "INSERT INTO fields (kind, id, column, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, id, column) DO UPDATE SET value = COALESCE(excluded.value, value)",
            ((kind, row_id, column, value) for row_id, column, value in rows),
        )

    def field_rows(self, kind: str) -> Iterator[tuple[str, dict[str, str]]]:
        """(id, {column: value}) for every id of ``kind``, in id order, one id at a time."""
        cursor = self.conn.execute(
            "SELECT id, column, value FROM fields WHERE kind = ? ORDER BY id, column", (kind,)
        )
        current: str | None = None
        values: dict[str, str] = {}
        for row_id, column, value in cursor:
            if row_id != current:
                if current is not None:
                    yield current, values
                current, values = row_id, {}
            if value is not None:
                values[column] = value
        if current is not None:
            yield current, values
