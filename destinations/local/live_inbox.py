"""Live events that arrive while a backfill holds the store's write lock wait here, in a second SQLite file.

A backfill (``pue replay`` of an archive) commits once per 100,000 records' batches (commit groups,
transactions.py): ~10 s holding the store's one write lock, during which any other writer waits its busy
timeout and fails. ``pue serve``'s ``POST /events`` must not wait for that, nor fail: while a backfill runs
(``backfill_running``: the replay holds an exclusive ``flock`` on ``pue.backfill.lock`` for as long as its
commit groups run) the API puts the message in this inbox (its own file, its own lock, one short
transaction per message) and answers from the model as it stands; a drain (consumers/web/inbox_drain.py)
tracks the inbox's messages through the usual path, in arrival order, once the backfill is over. Tracking is
idempotent per messageId, so a message drained twice (a crash between tracking and deleting) counts once.

``flock`` and not a row in a table: the lock is released by the kernel when the replay dies, however it dies.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from destinations.local import owner_only

INBOX_FILE_NAME: Final = "pue-inbox.sqlite3"
BACKFILL_LOCK_NAME: Final = "pue.backfill.lock"
# A put waits at most this long for another process's put (each holds the inbox for one small insert).
INBOX_BUSY_SECONDS: Final = 1.0

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- arrival order
    message TEXT NOT NULL,                   -- the Segment message as received (JSON)
    received_at REAL NOT NULL                -- epoch seconds
);
"""


@contextmanager
def backfill_lock(state_dir: Path) -> Iterator[None]:
    """Held by a backfill while its commit groups run: ``backfill_running`` is True for everyone else."""
    owner_only.private_directory(state_dir)
    fd = os.open(state_dir / BACKFILL_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def backfill_running(state_dir: Path) -> bool:
    """Whether a process holds ``backfill_lock`` on ``state_dir`` now (never blocks)."""
    try:
        fd = os.open(state_dir / BACKFILL_LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases our shared lock, if we got it
    return False


class LiveInbox:
    """The inbox of ``state_dir``: ``put`` while ``busy()``, ``oldest``/``remove`` to drain. Thread-safe."""

    def __init__(self, state_dir: Path) -> None:
        # Queued messages are raw client input, as private as the store's own files (issue 23).
        owner_only.private_database(state_dir / INBOX_FILE_NAME)
        self.state_dir = state_dir
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(state_dir / INBOX_FILE_NAME),
            timeout=INBOX_BUSY_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    def busy(self) -> bool:
        """A backfill holds the store: new events go to the inbox (and so do all while it holds any)."""
        return backfill_running(self.state_dir) or self.pending() > 0

    def put(self, message: Mapping[str, Any], received_at: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO inbox (message, received_at) VALUES (?, ?)", (json.dumps(message), received_at)
            )

    def pending(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])

    def oldest(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, message FROM inbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(int(seq), json.loads(message)) for seq, message in rows]

    def remove(self, seq: int) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM inbox WHERE seq = ?", (seq,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
