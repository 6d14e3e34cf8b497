"""Learning for the local recommender: fold a batch of interactions into the model tables in one pass.

Per batch, not per event: every actor's recent window is read once, the batch's pair increments are summed
in memory, and each table gets one ``executemany`` with its keys sorted, so SQLite walks its B-trees in
order. The result is exactly what folding the events one by one gives (the order inside the batch is kept).

- The first time an actor meets an item, the item is paired with the actor's ``window`` most recent
  distinct items: each pair's distinct-actor count grows by one, both ways. Repeats of a known item only
  refresh its recency, so one busy user cannot inflate a pair.
- An item's popularity is its distinct-actor count, decayed by event time with a half-life (forward
  decay, kept as a logarithm so it never overflows and never needs rescaling).
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from schemas.interaction import Interaction

POPULARITY_HALF_LIFE_SECONDS: Final = 7 * 24 * 60 * 60
HEAT_RATE: Final = math.log(2) / POPULARITY_HALF_LIFE_SECONDS
_IN_CHUNK: Final = 500  # bound parameters per statement, well below old SQLite builds' 999


@dataclass(slots=True)
class _Actor:
    """One actor's state while a batch is folded in: known items and the recent window, newest first."""

    id: int
    known: dict[int, tuple[float, int]] = field(default_factory=dict)  # item -> (last_ts, tick)
    window: list[tuple[float, int, int]] = field(default_factory=list)  # (last_ts, tick, item), newest first
    changed: set[int] = field(default_factory=set)

    def touch(self, item: int, ts: float, tick: int, size: int) -> None:
        self.window = [entry for entry in self.window if entry[2] != item]
        self.window.append((ts, tick, item))
        self.window.sort(reverse=True)
        del self.window[size:]


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
    actor_ids = ids_for(conn, "model_actors", "actor", {actor_key(it) for it in events})
    window = limits.window
    actors = _load_actors(conn, events, actor_ids, item_ids, window)
    pairs: Counter[tuple[int, int]] = Counter()
    heat: dict[int, list[float]] = {}
    for it in events:
        tick += 1
        actor, item, ts = actors[actor_key(it)], item_ids[str(it.item_id)], it.sent_at.timestamp()
        previous = actor.known.get(item)
        if previous is not None:
            # A late event (older than what we have) must not make the item look recent again.
            if ts >= previous[0]:
                actor.known[item] = (ts, tick)
                actor.touch(item, ts, tick, window)
                actor.changed.add(item)
            continue
        for _, _, other in actor.window:
            pairs[(item, other)] += 1
            pairs[(other, item)] += 1
        actor.known[item] = (ts, tick)
        actor.changed.add(item)
        if len(actor.window) < window or (ts, tick) > actor.window[-1][:2]:
            actor.touch(item, ts, tick, window)
        heat.setdefault(item, []).append(ts * HEAT_RATE)  # forward decay, compared in log space
    _write(conn, actors.values(), pairs, heat)
    _prune(conn, pairs, limits)
    conn.execute(
        "INSERT INTO model_meta (key, value) VALUES ('tick', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (tick,),
    )


def ids_for(conn: sqlite3.Connection, table: str, column: str, keys: set[str]) -> dict[str, int]:
    """Dense integer ids for ``keys``, creating the missing ones."""
    found = lookup_ids(conn, table, column, keys)
    missing = sorted(keys - found.keys())
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
        found.update((str(key), int(id_)) for key, id_ in rows)
    return found


def _load_actors(
    conn: sqlite3.Connection,
    events: Sequence[Interaction],
    actor_ids: dict[str, int],
    item_ids: dict[str, int],
    window: int,
) -> dict[str, _Actor]:
    batch_items: dict[str, set[int]] = {}
    for it in events:
        batch_items.setdefault(actor_key(it), set()).add(item_ids[str(it.item_id)])
    actors: dict[str, _Actor] = {}
    for key, items in batch_items.items():
        actor = _Actor(actor_ids[key])
        actor.window = [
            (float(ts), int(tick), int(item))
            for item, ts, tick in conn.execute(
                "SELECT item, last_ts, tick FROM model_history WHERE actor = ? "
                "ORDER BY last_ts DESC, tick DESC LIMIT ?",
                (actor.id, window),
            )
        ]
        ordered = sorted(items)
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT item, last_ts, tick FROM model_history WHERE actor = ? AND item IN ({marks})",  # noqa: S608
                (actor.id, *chunk),
            )
            actor.known.update((int(item), (float(ts), int(tick))) for item, ts, tick in rows)
        actors[key] = actor
    return actors


def _write(
    conn: sqlite3.Connection,
    actors: Iterable[_Actor],
    pairs: Counter[tuple[int, int]],
    heat: dict[int, list[float]],
) -> None:
    conn.executemany(
        "INSERT INTO model_history (actor, item, last_ts, tick) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (actor, item) DO UPDATE SET last_ts = excluded.last_ts, tick = excluded.tick",
        sorted((a.id, item, *a.known[item]) for a in actors for item in a.changed),
    )
    conn.executemany(
        "INSERT INTO model_pairs (a, b, actors) VALUES (?, ?, ?) "
        "ON CONFLICT (a, b) DO UPDATE SET actors = actors + excluded.actors",
        sorted((a, b, n) for (a, b), n in pairs.items()),
    )
    items = sorted(heat)
    current: dict[int, tuple[int, float]] = {}
    for start in range(0, len(items), _IN_CHUNK):
        chunk = items[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(f"SELECT id, actors, log_heat FROM model_items WHERE id IN ({marks})", chunk)  # noqa: S608
        current.update((int(id_), (int(n), float(h))) for id_, n, h in rows)
    updates = []
    for i in items:
        known, log_heat = current[i]
        count = known + len(heat[i])
        updates.append((count, 1 / math.sqrt(count), _logsumexp([log_heat, *heat[i]]), i))
    conn.executemany("UPDATE model_items SET actors = ?, norm = ?, log_heat = ? WHERE id = ?", updates)


def _prune(conn: sqlite3.Connection, pairs: Counter[tuple[int, int]], limits: LearnLimits) -> None:
    """Keep each item's ``neighbours`` strongest pairs (by distinct actors, then id: deterministic).

    An item is pruned once it may have gained ``slack`` rows since the last time, so the amortised cost
    stays a constant per pair increment, and no item's list (what a query reads) outgrows
    ``neighbours + slack`` rows. Most dropped pairs were seen by one actor: noise.
    """
    written = Counter(a for a, _ in pairs)
    conn.executemany(
        "UPDATE model_items SET unpruned = unpruned + ? WHERE id = ?",
        sorted((n, a) for a, n in written.items()),
    )
    touched = sorted(written)
    due: list[int] = []
    for start in range(0, len(touched), _IN_CHUNK):
        chunk = touched[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id FROM model_items WHERE id IN ({marks}) AND unpruned >= ?",  # noqa: S608
            (*chunk, limits.slack),
        )
        due.extend(int(row[0]) for row in rows)
    conn.executemany(
        "DELETE FROM model_pairs WHERE a = ?1 AND b IN "
        "(SELECT b FROM model_pairs WHERE a = ?1 ORDER BY actors DESC, b LIMIT -1 OFFSET ?2)",
        [(a, limits.neighbours) for a in due],
    )
    conn.executemany("UPDATE model_items SET unpruned = 0 WHERE id = ?", [(a,) for a in due])


def _logsumexp(values: Sequence[float]) -> float:
    high = max(values)
    return high + math.log(math.fsum(math.exp(v - high) for v in values))
