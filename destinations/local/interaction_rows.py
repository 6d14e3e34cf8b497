"""How an ``Interaction`` is laid out in the ``interactions`` table (schema.py), and back, exactly.

The table is most of the store's bytes and one row is written per event, so a row is kept small:

- ``event_id`` is found through a 32-bit hash (``event_hash``) in a non-unique index; a hash match is only a
  candidate, confirmed by comparing the stored ``event_id`` itself, so a collision never drops an event.
  32 bits, not 64: 8 bytes less per interaction (row and index), and a new event meets a false candidate
  (one extra row read) with probability rows / 2^32, 0.02 % at a million rows.
  A canonical lowercase UUID (what most Segment libraries send as messageId) is stored as its 16 bytes.
- ``sent_at`` is integer microseconds since ``TIME_BASE`` (UTC) plus the UTC offset in microseconds (0 costs
  no byte), so the instant and the offset both round-trip exactly, and rows order by an integer. From
  ``TIME_BASE``, mid-2020 to mid-2029 fit SQLite's 6-byte integers; since 1970 they would take 8.
- event types, user ids and item ids are interned in ``interaction_names``: a row and the per-user index
  hold small integers instead of repeated strings. Session ids are not: a session lasts a few events, so
  its name row would cost about what it saves, plus a statement per session; a canonical UUID session
  (analytics.js's anonymousId) is packed to 16 bytes like an event id.
- an empty impression is NULL, not ``'[]'``.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any, Final

from schemas.interaction import Interaction

TIME_BASE: Final = datetime(2025, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
# SQLite builds before 3.32 allow 999 bound parameters per statement; stay well below.
IN_CHUNK: Final = 500
_NAME_OF: Final = itemgetter(1)  # of an (id, name) row

# The columns row() fills, in its order, after seq (the rowid: arrival order, given by ``insert``, or kept
# as found by a migration).
_COLUMNS: Final = (
    "event_hash, event_id, event_type, session, sent_us, utc_offset_us, user, item, event_value, "
    "properties, recommendation_id, impression"
)
INSERT_WITH_SEQ_SQL: Final = f"INSERT INTO interactions (seq, {_COLUMNS}) VALUES ({', '.join('?' * 13)})"  # noqa: S608
# A usual row (an aware time, an item, nothing optional), with its user or without: its NULL columns left
# out of the statement (``insert``).
_USUAL_HEAD: Final = "seq, event_hash, event_id, event_type, session, sent_us, utc_offset_us"
_USUAL_SQL: Final = {
    True: f"INSERT INTO interactions ({_USUAL_HEAD}, user, item) VALUES ({', '.join('?' * 9)})",  # noqa: S608
    False: f"INSERT INTO interactions ({_USUAL_HEAD}, item) VALUES ({', '.join('?' * 8)})",  # noqa: S608
}
# What _interaction reads back, names resolved.
SELECT_SQL: Final = (
    "SELECT i.event_id, t.name, i.session, i.sent_us, i.utc_offset_us, u.name, it.name, i.event_value, "
    "i.properties, i.recommendation_id, i.impression FROM interactions AS i "
    "JOIN interaction_names AS t ON t.id = i.event_type "
    "LEFT JOIN interaction_names AS u ON u.id = i.user "
    "LEFT JOIN interaction_names AS it ON it.id = i.item "
)


def event_hash(event_id: str) -> int:
    """A stable signed 32-bit hash of the event id (a 4-byte SQLite INTEGER); equal ids, equal hashes.
    CRC-32: fast, and spread enough; a crafted collision costs a row read, never an event."""
    return (zlib.crc32(event_id.encode()) ^ 0x80000000) - 0x80000000


def _uuid_text(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def stored_event_id(event_id: str) -> str | bytearray:
    """The 16 bytes of a canonical lowercase UUID (20 bytes fewer per row), any other id as it is.
    (Session ids are stored the same way.) A bytearray, not bytes: Python's sqlite3 binds a bytearray
    directly but sends bytes through its adapter lookup (``insert``)."""
    if len(event_id) == 36 and event_id[8] == event_id[13] == event_id[18] == event_id[23] == "-":
        digits = event_id.replace("-", "")
        try:
            raw = bytearray.fromhex(digits)
        except ValueError:
            return event_id
        # Only what reads back identically is packed: uppercase, spaces or other dashes stay text.
        if len(raw) == 16 and raw.hex() == digits:
            return raw
    return event_id


def loaded_event_id(stored: str | bytes) -> str:
    return _uuid_text(stored) if isinstance(stored, bytes) else stored


def time_fields(sent_at: datetime) -> tuple[int, int | None]:
    """(microseconds since TIME_BASE, UTC offset in microseconds); a naive time (no offset) counts as UTC
    and keeps a NULL offset, so it reads back naive."""
    offset = sent_at.utcoffset()
    if offset is None:
        return (sent_at.replace(tzinfo=UTC) - TIME_BASE) // _MICROSECOND, None
    return (sent_at - TIME_BASE) // _MICROSECOND, offset // _MICROSECOND


def loaded_time(sent_us: int, utc_offset_us: int | None) -> datetime:
    utc = TIME_BASE + timedelta(microseconds=sent_us)
    if utc_offset_us is None:
        return utc.replace(tzinfo=None)
    if utc_offset_us == 0:
        return utc  # timezone.utc, as datetime.fromisoformat gives for "+00:00"
    return utc.astimezone(timezone(timedelta(microseconds=utc_offset_us)))


def existing_event_ids(conn: sqlite3.Connection, event_ids: Sequence[str], hashes: Sequence[int]) -> set[str]:
    """The ids among ``event_ids`` (``hashes`` their event_hash) that are stored: the rows with those
    hashes are candidates, confirmed against the stored id."""
    distinct = list(set(hashes))
    found: set[str] = set()
    for start in range(0, len(distinct), IN_CHUNK):
        chunk = distinct[start : start + IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT event_id FROM interactions WHERE event_hash IN ({marks})", chunk)  # noqa: S608
        found.update(loaded_event_id(row[0]) for row in rows)
    return found.intersection(event_ids)


class InternedNames:
    """name -> id in ``interaction_names``, with a cache of the names already looked up or added.

    An id never changes once committed, but one added by a transaction that is rolled back is given
    again to another name: whoever rolls back calls ``forget()``. The cache is emptied when it reaches
    ``limit`` (sessions come and go; users, items and types come back and are looked up again).
    """

    def __init__(self, limit: int) -> None:
        self._ids: dict[str, int] = {}
        self._limit = limit

    def forget(self) -> None:
        self._ids.clear()

    def ids(self, conn: sqlite3.Connection, names: Iterable[str], *, create: bool) -> dict[str, int]:
        """The ids of ``names``; with ``create`` (in a write transaction) missing names are added, else
        they are left out."""
        cache = self._ids
        ids: dict[str, int] = {}
        missing: list[str] = []
        for name in names:
            known = cache.get(name)
            if known is not None:
                ids[name] = known
            elif name not in ids:
                ids[name] = -1
                missing.append(name)
        # Looked up first, in name order (the unique index walked forwards), then the rest added by one
        # statement: a statement per new name was ~3x the time (a visitor-heavy archive brings a new user
        # name every few events).
        ordered = sorted(missing)
        for start in range(0, len(ordered), IN_CHUNK):
            chunk = ordered[start : start + IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(f"SELECT name, id FROM interaction_names WHERE name IN ({marks})", chunk)  # noqa: S608
            ids.update((str(name), int(id_)) for name, id_ in rows)
        if create:
            new = [name for name in missing if ids[name] < 0]
            if new:
                # The write transaction keeps other writers out: the new names take the ids after the
                # largest, in first-seen order (the ids SQLite would give them one insert at a time).
                last = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM interaction_names").fetchone()[0])
                added = dict(zip(new, range(last + 1, last + 1 + len(new)), strict=True))
                conn.executemany(
                    "INSERT INTO interaction_names (id, name) VALUES (?, ?)",
                    sorted(((id_, name) for name, id_ in added.items()), key=_NAME_OF),
                )
                ids.update(added)
        if len(cache) + len(missing) > self._limit:
            cache.clear()
        cache.update((name, ids[name]) for name in missing if ids[name] >= 0)
        return ids if create else {name: id_ for name, id_ in ids.items() if id_ >= 0}


def names_of(interactions: Iterable[Interaction]) -> list[str]:
    """Every string of these interactions that is interned (type, user, item)."""
    names: list[str] = []
    for it in interactions:
        names.append(it.event_type)
        if it.user_id is not None:
            names.append(it.user_id)
        if it.item_id is not None:
            names.append(it.item_id)
    return names


def insert(conn: sqlite3.Connection, pending: Sequence[tuple[Interaction, int]], ids: dict[str, int]) -> None:
    """Insert ``pending`` (each interaction with its event_hash), in this order: seq after the largest.

    Python's sqlite3 binds an int, float, str or bytearray directly, but a None or a bytes goes through its
    adapter lookup (~0.5 µs each): a usual event's row binds four NULLs, and they cost a third of its
    insert's CPU. So a usual row (``_USUAL_SQL``: most rows) is inserted by a statement that leaves its NULL
    columns out, the others binding every column; each row carries its seq, so the two statements keep
    the arrival order. (1.5 µs less per row, in a measure of 100,000 rows: 1.5 s of a 1M-record replay.)
    """
    first = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM interactions").fetchone()[0]) + 1
    usual: dict[bool, list[tuple[object, ...]]] = {True: [], False: []}
    other: list[tuple[object, ...]] = []
    for seq, (it, hash_) in enumerate(pending, first):
        sent_us, offset = time_fields(it.sent_at)
        item = it.item_id
        if (
            offset is not None
            and item is not None
            and it.event_value is None
            and it.properties is None
            and it.recommendation_id is None
            and not it.impression
        ):
            head = (seq, hash_, stored_event_id(it.event_id), ids[it.event_type])
            tail = (stored_event_id(it.session_id), sent_us, offset)
            if it.user_id is None:
                usual[False].append((*head, *tail, ids[item]))
            else:
                usual[True].append((*head, *tail, ids[it.user_id], ids[item]))
        else:
            other.append((seq, *row(it, ids, hash_)))
    for with_user, rows in usual.items():
        if rows:
            conn.executemany(_USUAL_SQL[with_user], rows)
    if other:
        conn.executemany(INSERT_WITH_SEQ_SQL, other)


def row(it: Interaction, ids: dict[str, int], hash_: int) -> tuple[object, ...]:
    """The INSERT_WITH_SEQ_SQL parameters of one interaction after its seq: its names are in ``ids``,
    ``hash_`` is its event_hash."""
    sent_us, utc_offset_us = time_fields(it.sent_at)
    return (
        hash_,
        stored_event_id(it.event_id),
        ids[it.event_type],
        stored_event_id(it.session_id),
        sent_us,
        utc_offset_us,
        None if it.user_id is None else ids[it.user_id],
        None if it.item_id is None else ids[it.item_id],
        it.event_value,
        it.properties,
        it.recommendation_id,
        json.dumps(list(it.impression)) if it.impression else None,
    )


def interaction(selected: tuple[Any, ...]) -> Interaction:
    """One SELECT_SQL row as the Interaction that was stored."""
    return Interaction(
        event_id=loaded_event_id(selected[0]),
        event_type=selected[1],
        session_id=loaded_event_id(selected[2]),
        sent_at=loaded_time(selected[3], selected[4]),
        user_id=selected[5],
        item_id=selected[6],
        event_value=selected[7],
        properties=selected[8],
        recommendation_id=selected[9],
        impression=tuple(json.loads(selected[10])) if selected[10] is not None else (),
    )
