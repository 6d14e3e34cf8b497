"""The embedded store: one SQLite file under the state dir holds everything the local backend keeps.

Interactions, Personas traits, Pinpoint-style endpoint attributes, dead letters, the item catalog and the
recommender's model tables all live in the same file, so one ``pue`` state dir is one backup unit.

Concurrency: the pipeline calls adapters from a thread pool, and the HTTP API may read the same file from
another process. One connection is guarded by a re-entrant lock (``destinations.local.transactions``);
WAL lets other processes read while we write, and ``busy_timeout`` makes writers wait for each other
instead of failing. A lock that is still held after the timeout surfaces as ``RetryableError``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import astuple
from pathlib import Path
from typing import Final

from destinations.local import heap_trim, interaction_rows, owner_only, store_migration
from destinations.local.interaction_rows import IN_CHUNK as _IN_CHUNK
from destinations.local.schema import STORE_SCHEMA
from destinations.local.transactions import Transactions
from schemas.dead_letter import DeadLetter
from schemas.errors import PermanentError
from schemas.interaction import Interaction

STORE_FILE_NAME: Final = "pue.sqlite3"
# How long a writer waits for another process's write lock before giving up (then: RetryableError).
BUSY_TIMEOUT_SECONDS: Final = 5.0
CACHE_KIB: Final = 64 * 1024
# The page size of a new store file (an existing one keeps its own: WAL mode cannot change it). 16 KiB, not
# SQLite's 4: a backfill touches most of the model's pages in every batch, and with 4x fewer, shallower
# B-tree pages it read and wrote fewer of them (the 1M visitors replay: main process CPU 0.93x; 8 KiB 0.96x).
PAGE_SIZE_BYTES: Final = 16 * 1024
# Interned names (types, users, items, sessions) kept in memory to skip their lookup: ~100 bytes each.
NAME_CACHE_LIMIT: Final = 100_000


class LocalStore:
    """Thread-safe access to the SQLite file. Sibling adapters use ``transaction()`` for their own tables."""

    def __init__(self, path: Path) -> None:
        owner_only.private_database(path)  # before SQLite creates it world-readable (issue 23)
        self.path = path
        self._names = interaction_rows.InternedNames(limit=NAME_CACHE_LIMIT)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so nesting and rollback are explicit.
        self._conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        # forget: ids a rolled-back insert interned are reused by the next one.
        self._transactions = Transactions(self._conn, forget=self._names.forget)
        self._lock = self._transactions.lock
        with self._lock:
            self._conn.execute(f"PRAGMA page_size={PAGE_SIZE_BYTES}")  # before the file has its first page
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the tail.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # A page cache of CACHE_KIB: the model's hot pages stay in memory during a large replay,
            # within the replay's memory budget (docs/recommender.md).
            self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            if store_migration.has_version_1_interactions(self._conn):
                self._migrate()
            self.ensure_schema(STORE_SCHEMA)

    def _migrate(self) -> None:
        """Rewrite a version-1 interactions table (store_migration.py) in one transaction."""
        try:
            with self.transaction() as conn:
                store_migration.migrate_interactions(conn, STORE_SCHEMA, self._names)
        except (ValueError, TypeError, sqlite3.DatabaseError) as exc:
            self._conn.close()
            raise PermanentError(
                f"{self.path}: its interactions table (an earlier pue's layout) could not be migrated, and "
                f"is left as it was: {exc}. Replay the archive into a fresh --state directory instead.",
                service="local-store",
            ) from exc

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> LocalStore:
        return cls(state_dir / STORE_FILE_NAME)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # plumbing shared with the other local adapters

    def ensure_schema(self, ddl: str) -> None:
        """Create tables and indexes (idempotent ``IF NOT EXISTS`` statements)."""
        with self._lock:
            self._conn.executescript(ddl)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nested in the same thread, a savepoint of the outer one
        (``destinations.local.transactions``). ``write=False``: a consistent snapshot for several reads."""
        with self._transactions.unit(write=write) as conn:
            yield conn

    def commit_group(self) -> AbstractContextManager[None]:
        """Transactions inside commit together when it ends (a backfill): ``Transactions.group``."""
        return self._transactions.group()

    def release_cache(self, kib: int) -> None:
        """Free the page cache and keep it to ``kib`` from now on: a backfill's tracking is done, and its
        final refresh (worker processes computing lists beside this one) reads and writes little here."""
        with self._lock:
            self._conn.execute(f"PRAGMA cache_size=-{int(kib)}")
            self._conn.execute("PRAGMA shrink_memory")  # the cache's pages go back to malloc
        heap_trim.trim_heap()  # and malloc's to the OS (they lie under everything allocated since)

    # interactions

    def add_interactions(self, interactions: Sequence[Interaction]) -> list[Interaction]:
        """Store each interaction once per ``event_id``; return the ones that were new, in order."""
        event_ids = [it.event_id for it in interactions]
        hashes = [interaction_rows.event_hash(event_id) for event_id in event_ids]
        with self.transaction() as conn:
            known = interaction_rows.existing_event_ids(conn, event_ids, hashes)
            new: list[Interaction] = []
            rows: list[tuple[Interaction, int]] = []
            for it, hash_ in zip(interactions, hashes, strict=True):
                if it.event_id not in known:
                    known.add(it.event_id)  # a repeat inside the call is not new either
                    new.append(it)
                    rows.append((it, hash_))
            if new:
                ids = self._names.ids(conn, interaction_rows.names_of(new), create=True)
                interaction_rows.insert(conn, rows, ids)
        return new

    def interactions_for(
        self, user_id: str, limit: int | None = None, *, session: bool = False
    ) -> list[Interaction]:
        """The user's interactions, oldest first (by ``sent_at``, then arrival); with ``session``, those of
        the session (anonymousId) ``user_id`` instead, for visitors who never identified.

        With ``limit``, the most recent ``limit`` of them, still oldest first.
        """
        with self.transaction(write=False) as conn:
            key: str | bytearray | int | None
            if session:
                column, key = "session", interaction_rows.stored_event_id(user_id)
            else:
                column, key = "user", self._names.ids(conn, [user_id], create=False).get(user_id)
                if key is None:
                    return []
            rows = conn.execute(
                f"{interaction_rows.SELECT_SQL} WHERE i.{column} = ? "
                "ORDER BY i.sent_us DESC, i.seq DESC LIMIT ?",
                (key, -1 if limit is None else limit),
            ).fetchall()
        return [interaction_rows.interaction(row) for row in reversed(rows)]

    def has_interactions(self, user_id: str) -> bool:
        """Whether the user has any tracked interaction: one index probe, where ``interactions_for(user,
        limit=1)`` sorts all of the user's rows by time."""
        with self.transaction(write=False) as conn:
            user = self._names.ids(conn, [user_id], create=False).get(user_id)
            return (
                user is not None
                and conn.execute("SELECT 1 FROM interactions WHERE user = ? LIMIT 1", (user,)).fetchone()
                is not None
            )

    def user_interaction_count(self, user_id: str) -> int:
        """How many interactions ``user_id`` has: an index count, without reading the rows."""
        with self.transaction(write=False) as conn:
            key = self._names.ids(conn, [user_id], create=False).get(user_id)
            if key is None:
                return 0
            return int(conn.execute("SELECT COUNT(*) FROM interactions WHERE user = ?", (key,)).fetchone()[0])

    def interaction_count(self) -> int:
        with self.transaction(write=False) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0])

    def known_users(self, limit: int = 100) -> list[str]:
        """User ids with tracked interactions, most active first."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT n.name FROM (SELECT user, COUNT(*) AS events FROM interactions "
                "WHERE user IS NOT NULL GROUP BY user) AS counted "
                "JOIN interaction_names AS n ON n.id = counted.user "
                "ORDER BY counted.events DESC, n.name LIMIT ?",
                (limit,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def ensure_event_type_index(self, event_types: frozenset[str]) -> None:
        """A partial index of these event types' rows (e.g. purchases), by user: a few percent of the
        interactions, where an index of every row by (user, type, item) would cost ~45 bytes each."""
        with self._lock:
            if len(self._event_type_ids(self._conn, event_types)) < len(event_types):
                # The index names the types by their interned ids: they must exist before it does.
                with self.transaction() as conn:
                    self._names.ids(conn, sorted(event_types), create=True)
            ids = self._event_type_ids(self._conn, event_types)
            name, condition = _event_type_index_name(event_types), _event_type_condition(ids)
            self._conn.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON interactions (user, item) WHERE {condition}"
            )

    def item_ids_with_event_types(self, user_id: str, event_types: frozenset[str]) -> frozenset[str]:
        """Distinct items the user has events of these types for (e.g. purchases).

        Uses the partial index of ``ensure_event_type_index(event_types)`` when it exists: its condition is
        repeated here word for word, which is how SQLite knows the index covers the query.
        """
        with self.transaction(write=False) as conn:
            user = self._names.ids(conn, [user_id], create=False).get(user_id)
            ids = self._event_type_ids(conn, event_types)
            if user is None or not ids:
                return frozenset()
            rows = conn.execute(
                "SELECT DISTINCT n.name FROM interactions JOIN interaction_names AS n ON n.id = item "  # noqa: S608
                f"WHERE user = ? AND {_event_type_condition(ids)}",
                (user,),
            ).fetchall()
        return frozenset(str(row[0]) for row in rows)

    def _event_type_ids(self, conn: sqlite3.Connection, event_types: frozenset[str]) -> tuple[int, ...]:
        """The interned ids of those of these types that have one, in name order (a type without one has
        no rows yet)."""
        ids = self._names.ids(conn, event_types, create=False)
        return tuple(ids[name] for name in sorted(ids))

    # Personas traits: a write replaces each named trait's value, like an identify call

    def set_traits(self, user_id: str, traits: Mapping[str, object], message_id: str) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO traits (user_id, name, value, message_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, "
                "message_id = excluded.message_id",
                [(user_id, name, json.dumps(value), message_id) for name, value in traits.items()],
            )

    def traits_for(self, user_id: str) -> dict[str, object]:
        with self.transaction(write=False) as conn:
            rows = conn.execute("SELECT name, value FROM traits WHERE user_id = ? ORDER BY name", (user_id,))
            return {str(name): json.loads(value) for name, value in rows}

    # Pinpoint-style endpoint attributes: each attribute's value list is replaced, like UpdateEndpoint

    def set_endpoint_attributes(
        self, user_id: str, endpoint_id: str, attributes: Mapping[str, list[str]]
    ) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO endpoint_attributes (user_id, endpoint_id, name, vals) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, endpoint_id, name) DO UPDATE SET vals = excluded.vals",
                [(user_id, endpoint_id, name, json.dumps(list(vals))) for name, vals in attributes.items()],
            )

    def endpoint_attributes_for(self, user_id: str) -> dict[str, dict[str, list[str]]]:
        """endpoint id -> attribute name -> values."""
        result: dict[str, dict[str, list[str]]] = {}
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT endpoint_id, name, vals FROM endpoint_attributes WHERE user_id = ? "
                "ORDER BY endpoint_id, name",
                (user_id,),
            )
            for endpoint_id, name, vals in rows:
                result.setdefault(str(endpoint_id), {})[str(name)] = [str(v) for v in json.loads(vals)]
        return result

    # dead letters: unique on letter_id, so a redelivered poison record is kept once

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO dead_letters (letter_id, raw, reason, shard_id, sequence_number, "
                "sub_sequence_number, event_source_arn) VALUES (?, ?, ?, ?, ?, ?, ?)",
                # column order above is DeadLetter's field order; the attempt count is not kept locally
                [(d.letter_id, *astuple(d)[:6]) for d in letters],
            )

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        with self.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT raw, reason, shard_id, sequence_number, sub_sequence_number, event_source_arn "
                "FROM dead_letters ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(bytes(r[0]), *r[1:]) for r in rows]

    def dead_letter_count(self) -> int:
        with self.transaction(write=False) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    # item catalog, shaped like a Personalize items dataset: ITEM_ID -> other fields

    def upsert_items(self, items: Mapping[str, Mapping[str, object]]) -> None:
        """Insert or replace each item's fields as a whole."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO items (item_id, fields) VALUES (?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET fields = excluded.fields",
                [(item_id, json.dumps(dict(fields))) for item_id, fields in items.items()],
            )

    def items(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        """The known items among ``item_ids``; unknown ids are left out."""
        ids = list(dict.fromkeys(item_ids))
        found: dict[str, dict[str, object]] = {}
        with self.transaction(write=False) as conn:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT item_id, fields FROM items WHERE item_id IN ({marks})",  # noqa: S608
                    chunk,
                )
                found.update((str(item_id), dict(json.loads(fields))) for item_id, fields in rows)
        return {item_id: found[item_id] for item_id in ids if item_id in found}


def _event_type_index_name(event_types: frozenset[str]) -> str:
    digest = hashlib.sha256("\0".join(sorted(event_types)).encode()).hexdigest()[:16]
    return f"interactions_of_types_{digest}"


def _event_type_condition(ids: Sequence[int]) -> str:
    """The partial index's condition, by the types' interned ids (integers: nothing to quote)."""
    return f"event_type IN ({', '.join(str(int(i)) for i in ids)})"
