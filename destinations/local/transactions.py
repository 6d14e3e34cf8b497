"""Transactions over the store's one SQLite connection: units of work, savepoints, and commit groups.

- ``unit()``: one atomic unit of work. A nested unit in the same thread is a savepoint of the outer one, so
  a failed inner unit (one PutEvents call of a batch-wide transaction) is undone alone and the outer one
  can still commit the rest. Only the first level of nesting needs a savepoint; deeper units join it.
- ``group()``: many units, one commit (a backfill: ``pue replay`` of an archive). Each unit inside stays
  atomic on its own (a savepoint where it would have been a transaction), but nothing is written to the
  WAL until the group ends: a commit rewrites every page its transaction dirtied, and at a million
  interactions one Lambda batch dirties most of the model's pages (docs/recommender.md, "Commit groups").
  A crash loses the group's units together, never part of one; a replay of the same input is idempotent.

One connection (``check_same_thread=False``) is guarded by a re-entrant lock: the pipeline calls adapters
from a thread pool. A lock still held by another process after the busy timeout, a full disk or an I/O
error surfaces as ``RetryableError``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from schemas.errors import RetryableError

# Failures a later attempt can get past: another writer, a full disk, an I/O hiccup.
_TRANSIENT_CODES: Final = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL}
)
_SERVICE: Final = "local-store"


class GroupLost(RetryableError):
    """SQLite rolled back a commit group's whole transaction (e.g. a full disk): every unit of it is gone,
    including ones already reported done. Replaying the same input again is safe (idempotent)."""


class Transactions:
    """Units of work and commit groups on ``conn``; ``forget`` is called whenever work is undone (caches
    of ids that a rolled-back insert had assigned must not survive it)."""

    def __init__(self, conn: sqlite3.Connection, forget: Callable[[], None]) -> None:
        self.lock = threading.RLock()
        self._conn = conn
        self._forget = forget
        self._depth = 0
        self._grouped = False  # a group's transaction is open: depth-0 units are savepoints
        self._lost: BaseException | None = None  # what ended a group's transaction early

    @contextmanager
    def unit(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """``write=False`` gives a consistent snapshot for several reads without taking the write lock."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    with self._savepoint("nested", write and self._depth == 2):
                        yield self._conn
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                if self._grouped:
                    self._check_group()
                    with self._savepoint("unit", write):
                        yield self._conn
                else:
                    with self._transaction("BEGIN IMMEDIATE" if write else "BEGIN"):
                        yield self._conn
            finally:
                self._depth = 0

    @contextmanager
    def group(self) -> Iterator[None]:
        """Units inside (this or any thread's) commit together when the group ends, however it ends: each
        unit that completed is whole and kept, one that failed was undone. The lock is not held in
        between units, so other threads' units can join. Not inside a unit, not inside another group."""
        with self.lock:
            if self._depth or self._grouped:
                raise RuntimeError("a commit group cannot start inside a transaction or another group")
            with self._transaction("BEGIN IMMEDIATE", commit=False):
                self._grouped, self._lost = True, None
        try:
            yield
        finally:
            with self.lock:
                self._grouped = False
                if self._lost is None:
                    with self._transaction(None):
                        pass
                else:
                    self._rollback()
                    self._check_group()

    @contextmanager
    def _transaction(self, begin: str | None, *, commit: bool = True) -> Iterator[None]:
        """``begin`` None: the transaction is open already; ``commit`` False: it stays open."""
        try:
            if begin is not None:
                self._conn.execute(begin)
            yield
            if commit:
                self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback()
            if exc.sqlite_errorcode & 0xFF in _TRANSIENT_CODES:
                raise RetryableError(f"local store unavailable: {exc}", service=_SERVICE) from exc
            raise
        except BaseException:
            self._rollback()
            raise

    @contextmanager
    def _savepoint(self, name: str, active: bool) -> Iterator[None]:
        if not active:
            yield
            return
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                self._forget()
            elif self._grouped:
                # SQLite ended the whole transaction itself (SQLITE_FULL, IOERR): the group is gone.
                self._lost = exc
                self._forget()
            raise
        self._conn.execute(f"RELEASE {name}")

    def _check_group(self) -> None:
        if self._lost is not None:
            raise GroupLost(
                f"the local store rolled back a commit group ({self._lost}): its batches were not kept; "
                "replay the input again",
                service=_SERVICE,
            ) from self._lost

    def _rollback(self) -> None:
        self._forget()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
