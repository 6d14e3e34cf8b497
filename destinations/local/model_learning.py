"""Learning for the local recommender: fold a batch of interactions into the model tables in one pass.

Per batch, not per event: every actor's recent window is read once (what it already knows of the batch's
items too, in a few joins), and each table gets one ``executemany`` with its keys sorted, so SQLite walks
its B-trees in order. The result is exactly what folding the events one by one gives (the order inside the
batch is kept).

- The first time an actor meets an item, the item is paired with the actor's ``window`` most recent
  distinct items: each pair's distinct-actor count grows by one, both ways. Repeats of a known item only
  refresh its recency, so one busy user cannot inflate a pair.
- An item's popularity is its distinct-actor count, decayed by event time with a half-life (forward
  decay, kept as a logarithm so it never overflows and never needs rescaling).

Speed: a batch of 10,000 events makes ~150,000 pair increments (window 20), and the row upserts they cost
in SQLite are most of learning. So the Python per increment is C: an increment is one int (``a << shift |
b``, ``shift`` wide enough for every item id) appended by ``list.extend`` over a ``map``; the list is
sorted once and bound one int per row, SQLite splitting it. Repeats of a pair within a batch are rare (<1 %
on the scale benchmark's archive), so they are not summed first: the upsert adds them up.
"""

from __future__ import annotations

import json
import math
import sqlite3
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from operator import itemgetter
from typing import Final

from destinations.local import pair_pruning
from schemas.interaction import Interaction

POPULARITY_HALF_LIFE_SECONDS: Final = 7 * 24 * 60 * 60
HEAT_RATE: Final = math.log(2) / POPULARITY_HALF_LIFE_SECONDS
_IN_CHUNK: Final = 500  # bound parameters per statement, well below old SQLite builds' 999
_ITEM_OF: Final = itemgetter(2)
_SQLITE_INT_BITS: Final = 63  # a bound Python int must fit a signed 64-bit integer

# Whether any "s:" (anonymous session) actor exists: a range of the actor index (":" + 1 is ";").
_ANY_SESSION_ACTOR: Final = "SELECT 1 FROM model_actors WHERE actor >= 's:' AND actor < 's;' LIMIT 1"

Entry = tuple[float, int, int]  # (last_ts, tick, item): ordered by recency, ties by arrival


@dataclass(slots=True)
class _Actor:
    """One actor's state while a batch is folded in: known items and the recent window, newest first."""

    id: int
    known: dict[int, tuple[float, int]] = field(default_factory=dict)  # item -> (last_ts, tick)
    window: list[Entry] = field(default_factory=list)  # the most recent distinct items, newest first
    changed: set[int] = field(default_factory=set)  # items whose time moved (new ones included)
    new: list[int] = field(default_factory=list)  # items new to its history in this batch, in order

    def touch(self, entry: Entry, previous: Entry | None, size: int) -> None:
        """Put ``entry`` in the window (replacing the item's ``previous`` entry), keep ``size`` newest."""
        window = self.window
        if previous is not None and previous in window:
            window.remove(previous)
        if not window or entry > window[0]:
            window.insert(0, entry)  # the usual case: events arrive roughly in time order
        else:
            at = 1
            while at < len(window) and window[at] > entry:
                at += 1
            window.insert(at, entry)
        del window[size:]


def actor_key(it: Interaction) -> str:
    # Anonymous events (session only) still teach which items go together.
    return f"u:{it.user_id}" if it.user_id is not None else f"s:{it.session_id}"


@dataclass(frozen=True, slots=True)
class LearnLimits:
    window: int  # a new item pairs with this many of the actor's most recent distinct items
    neighbours: int  # strongest neighbours kept per item
    slack: int  # neighbour rows an item may gain beyond ``neighbours`` before it is pruned again


def learn_batch(conn: sqlite3.Connection, interactions: Sequence[Interaction], limits: LearnLimits) -> None:
    """Fold ``interactions`` (in order) into the model; the caller holds the write transaction."""
    events = [it for it in interactions if it.item_id is not None]
    if not events:
        return
    row = conn.execute("SELECT value FROM model_meta WHERE key = 'tick'").fetchone()
    tick = 0 if row is None else int(row[0])
    item_ids = ids_for(conn, "model_items", "item_id", {str(it.item_id) for it in events})
    new_actors: set[str] = set()
    actor_ids = ids_for(conn, "model_actors", "actor", {actor_key(it) for it in events}, new_actors)
    _link_sessions(conn, events, actor_ids)
    # Every item id (the batch's and those in the actors' windows) fits in ``shift`` bits.
    shift = int(conn.execute("SELECT MAX(id) FROM model_items").fetchone()[0]).bit_length()
    window = limits.window
    keyed = [(actor_key(it), item_ids[str(it.item_id)], it.sent_at.timestamp()) for it in events]
    actors = _load_actors(conn, keyed, actor_ids, window, new_actors)
    # One int per pair increment, both directions: (a << shift | b). Two actors rarely meet the same pair
    # in one batch (<1 % of increments at 100k), so a list beats a Counter; the upsert adds up repeats.
    pairs: list[int] = []
    add_pairs = pairs.extend
    heat: dict[int, list[float]] = {}
    for key, item, ts in keyed:
        tick += 1
        actor = actors[key]
        entry = (ts, tick, item)
        previous = actor.known.get(item)
        if previous is not None:
            # A late event (older than what we have) must not make the item look recent again.
            if ts >= previous[0]:
                actor.known[item] = (ts, tick)
                actor.touch(entry, (*previous, item), window)
                actor.changed.add(item)
            continue
        recent = actor.window
        if recent:
            others = list(map(_ITEM_OF, recent))
            add_pairs(map((item << shift).__or__, others))
            add_pairs(map(item.__or__, map(int.__lshift__, others, repeat(shift))))
        actor.known[item] = (ts, tick)
        actor.new.append(item)
        if len(recent) < window or entry > recent[-1]:
            actor.touch(entry, None, window)
        heat.setdefault(item, []).append(ts * HEAT_RATE)  # forward decay, compared in log space
    pairs.sort()
    _write(conn, list(actors.values()), pairs, shift)
    _update_items(conn, pairs, shift, heat, limits)
    conn.execute(
        "INSERT INTO model_meta (key, value) VALUES ('tick', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (tick,),
    )


def _link_sessions(
    conn: sqlite3.Connection, events: Sequence[Interaction], actor_ids: dict[str, int]
) -> None:
    """Record which anonymous sessions an identified user's events came from (their anonymousId is the
    session), for the sessions that have anonymous events of their own: the rest have no history to add,
    and most identified events carry an anonymousId, so linking them all would cost a row per session."""
    wanted = {
        (actor_key(it), f"s:{it.session_id}")
        for it in events
        if it.user_id is not None and it.session_id != it.user_id
    }
    # One probe first: a store with no anonymous actor at all (every event of the archive identified) has
    # no session to link, and looking up each of a batch's sessions (thousands) was ~2 % of a backfill.
    if not wanted or conn.execute(_ANY_SESSION_ACTOR).fetchone() is None:
        return
    sessions = lookup_ids(conn, "model_actors", "actor", {session for _, session in wanted})
    links = sorted({(actor_ids[user], sessions[session]) for user, session in wanted if session in sessions})
    conn.executemany("INSERT OR IGNORE INTO model_links (user, session) VALUES (?, ?)", links)


def ids_for(
    conn: sqlite3.Connection, table: str, column: str, keys: set[str], created: set[str] | None = None
) -> dict[str, int]:
    """Dense integer ids for ``keys``, creating the missing ones (added to ``created`` when given)."""
    found = lookup_ids(conn, table, column, keys)
    missing = sorted(keys - found.keys())
    if created is not None:
        created.update(missing)
    if missing:
        conn.executemany(
            f"INSERT INTO {table} ({column}{', actors, norm, log_heat' if table == 'model_items' else ''}) "  # noqa: S608
            f"VALUES (?{', 0, 0, -1e308' if table == 'model_items' else ''})",
            [(key,) for key in missing],
        )
        found.update(lookup_ids(conn, table, column, set(missing)))
    return found


def lookup_ids(conn: sqlite3.Connection, table: str, column: str, keys: Iterable[str]) -> dict[str, int]:
    """The ids of the known ``keys`` (table and column are ours, never input)."""
    ordered = sorted(keys)
    found: dict[str, int] = {}
    for start in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT {column}, id FROM {table} WHERE {column} IN ({marks})", chunk)  # noqa: S608
        found.update(rows.fetchall())  # (key, id) rows
    return found


def _load_actors(
    conn: sqlite3.Connection,
    keyed: Sequence[tuple[str, int, float]],
    actor_ids: dict[str, int],
    window: int,
    new_actors: set[str],
) -> dict[str, _Actor]:
    """Each actor's ``window`` most recent items, and what it already knows of the batch's items.

    An actor created for this batch (``new_actors``) has no history to read: its id is new (actors are
    never deleted, so an id is never given twice), and the reads are skipped. Most actors of a visitor-heavy
    archive are new in the batch they first appear in (the per-actor window query was ~4 % of the main
    process's time on the 1M visitors archive, py-spy).

    The others: an actor with no more items than the window (``model_actors.items``) has its whole
    history read with every such actor's, in a few statements; a heavier one has its window read alone
    (its rows, newest first) and what it knows of the batch's items found by a join. A statement per
    returning actor (~20 µs) was ~3 % of the main process on the 1M visitors archive; reading whole
    histories of up to 200 items instead cost more than it saved (rows turned into Python tuples)."""
    actors: dict[str, _Actor] = {}
    for key, _, _ in keyed:
        if key not in actors:
            actors[key] = _Actor(actor_ids[key])
    returning = {actors[key].id: actors[key] for key in actors.keys() - new_actors}
    sizes = _sizes(conn, sorted(returning))
    light = sorted(a for a in returning if sizes.get(a, 0) <= window)
    _read_whole_histories(conn, light, returning, window)
    heavy = returning.keys() - set(light)
    for actor_id in sorted(heavy):
        returning[actor_id].window = conn.execute(
            "SELECT last_ts, tick, item FROM model_history WHERE actor = ? "
            "ORDER BY last_ts DESC, tick DESC LIMIT ?",
            (actor_id, window),
        ).fetchall()
    wanted = sorted({(actors[key].id, item) for key, item, _ in keyed if actors[key].id in heavy})
    step = _IN_CHUNK // 2
    for start in range(0, len(wanted), step):
        chunk = wanted[start : start + step]
        values = ", ".join("(?, ?)" for _ in chunk)
        rows = conn.execute(
            f"WITH wanted (actor, item) AS (VALUES {values}) "  # noqa: S608 - only placeholders
            "SELECT h.actor, h.item, h.last_ts, h.tick FROM wanted "
            "JOIN model_history AS h ON h.actor = wanted.actor AND h.item = wanted.item",
            [x for pair in chunk for x in pair],
        )
        for actor_id, item, ts, tick in rows:
            returning[actor_id].known[int(item)] = (float(ts), int(tick))
    return actors


def _sizes(conn: sqlite3.Connection, actor_ids: Sequence[int]) -> dict[int, int]:
    """Each actor's distinct items (``model_actors.items``)."""
    sizes: dict[int, int] = {}
    for start in range(0, len(actor_ids), _IN_CHUNK):
        chunk = actor_ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        sizes.update(conn.execute(f"SELECT id, items FROM model_actors WHERE id IN ({marks})", chunk))  # noqa: S608
    return sizes


def _read_whole_histories(
    conn: sqlite3.Connection, actor_ids: Sequence[int], actors: dict[int, _Actor], window: int
) -> None:
    """Every row of these actors' histories: all are known items, the newest ``window`` the window."""
    rows: dict[int, list[Entry]] = {}
    for start in range(0, len(actor_ids), _IN_CHUNK):
        chunk = actor_ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for actor_id, ts, tick, item in conn.execute(
            f"SELECT actor, last_ts, tick, item FROM model_history WHERE actor IN ({marks})",  # noqa: S608
            chunk,
        ):
            rows.setdefault(actor_id, []).append((ts, tick, item))
    for actor_id, entries in rows.items():
        actor = actors[actor_id]
        actor.known = {item: (ts, tick) for ts, tick, item in entries}
        entries.sort(reverse=True)  # as ORDER BY last_ts DESC, tick DESC (ticks are unique)
        actor.window = entries[:window]


def _write(conn: sqlite3.Connection, actors: Sequence[_Actor], pairs: list[int], shift: int) -> None:
    # New rows inserted and known ones updated by two statements: an upsert of a known row seeks it twice
    # (the failed insert, then the update), and most of a batch's rows are one or the other.
    conn.executemany(
        "INSERT INTO model_history (actor, item, last_ts, tick) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (actor, item) DO UPDATE SET last_ts = excluded.last_ts, tick = excluded.tick",
        sorted((a.id, item, *a.known[item]) for a in actors for item in a.new),
    )
    conn.executemany(
        "UPDATE model_history SET last_ts = ?3, tick = ?4 WHERE actor = ?1 AND item = ?2",
        sorted((a.id, item, *a.known[item]) for a in actors for item in a.changed.difference(a.new)),
    )
    # Each actor's history size, for the session neighbours' similarity: one write per actor per batch.
    conn.executemany(
        "UPDATE model_actors SET items = items + ? WHERE id = ?",
        sorted(((len(a.new), a.id) for a in actors if a.new), key=itemgetter(1)),
    )
    upsert = "ON CONFLICT (a, b) DO UPDATE SET actors = actors + 1"
    mask = (1 << shift) - 1
    if 2 * shift <= _SQLITE_INT_BITS and has_json_each():
        # One packed int per increment, split by SQLite (shift and mask are ours), and the batch's
        # increments as one JSON array walked by json_each in C: one statement instead of a bind and a
        # step from Python per row (0.75x the upsert's CPU). "WHERE true" keeps SQLite's parser from
        # reading ON CONFLICT as a join's ON.
        sql = (
            f"INSERT INTO model_pairs (a, b, actors) SELECT value >> {shift}, value & {mask}, 1 "  # noqa: S608
            f"FROM json_each(?) WHERE true {upsert}"
        )
        conn.execute(sql, (json.dumps(pairs),))
    else:  # ids beyond 31 bits (the packed key would not fit SQLite's 64-bit integer), or no json_each
        rows = zip(map(int.__rshift__, pairs, repeat(shift)), map(mask.__and__, pairs), strict=True)
        conn.executemany(f"INSERT INTO model_pairs (a, b, actors) VALUES (?, ?, 1) {upsert}", rows)  # noqa: S608


@cache
def has_json_each() -> bool:
    """Whether the linked SQLite has the JSON functions (built in since 3.38, an option in builds before
    it): a property of the library, so asked once per process, not per batch."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("SELECT count(*) FROM json_each('[]')").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return True


def _update_items(
    conn: sqlite3.Connection, pairs: list[int], shift: int, heat: dict[int, list[float]], limits: LearnLimits
) -> None:
    """Popularity of the batch's items, and pruning of the items whose pair lists grew (one read, one write).

    Pruning keeps each item's ``neighbours`` strongest pairs (by distinct actors, then id: deterministic).
    An item is pruned once it may have gained ``slack`` rows since the last time, so the amortised cost
    stays a constant per pair increment, and no item's list (what a query reads) outgrows
    ``neighbours + slack`` rows. Most dropped pairs were seen by one actor: noise.
    """
    written: dict[int, int] = {}  # pair increments per "a": the sorted keys' runs, found by bisection
    at, end = 0, len(pairs)
    while at < end:
        a = pairs[at] >> shift
        run_end = bisect_left(pairs, (a + 1) << shift, at)
        written[a] = run_end - at
        at = run_end
    items = sorted(written.keys() | heat.keys())
    current: dict[int, tuple[int, float, float, int]] = {}
    for start in range(0, len(items), _IN_CHUNK):
        chunk = items[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, actors, norm, log_heat, unpruned FROM model_items WHERE id IN ({marks})",  # noqa: S608
            chunk,
        )
        current.update((row[0], row[1:]) for row in rows)
    popular, pruned = [], []
    due = []
    for i in items:
        count, norm, log_heat, unpruned = current[i]
        unpruned += written.get(i, 0)
        if unpruned >= limits.slack:
            due.append(i)
            unpruned = 0
        if i in heat:
            count += len(heat[i])
            popular.append((count, 1 / math.sqrt(count), _logsumexp([log_heat, *heat[i]]), unpruned, i))
        else:
            pruned.append((unpruned, i))  # not the popularity: its index entry stays as it is
    pair_pruning.prune(conn, due, limits.neighbours)
    conn.executemany(
        "UPDATE model_items SET actors = ?, norm = ?, log_heat = ?, unpruned = ? WHERE id = ?", popular
    )
    conn.executemany("UPDATE model_items SET unpruned = ? WHERE id = ?", pruned)


def _logsumexp(values: Sequence[float]) -> float:
    high = max(values)
    return high + math.log(math.fsum(math.exp(v - high) for v in values))
