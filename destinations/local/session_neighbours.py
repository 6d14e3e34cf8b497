"""Session neighbours: the other actors who most recently had the actor's last items vote their items.

The co-occurrence votes (``recommender._votes``) say which items go with each of the actor's items, one
item at a time; this says what actors whose history looks like this whole one went on to have (V-SKNN,
Ludewig & Jannach, "Evaluation of session-based recommendation algorithms", 2018). The two are
complementary: ensembles of them beat both (Jannach & Ludewig, "When recurrent neural networks meet the
neighborhood for session-based recommendation", 2017). The recommender blends the two votes.

At query time only, from ``model_history`` read by item (the ``model_history_by_item`` index):

1. The actor's ``SESSION_ITEMS`` most recent items, the k-th weighing ``decay ** k`` (most recent first).
2. For each, its ``SAMPLE`` most recent actors: actor ids are dense and given in order of first
   appearance, so the highest ids are the newest actors (a bounded range of the index, read backwards).
3. An actor's similarity is the sum of the weights of the items it shares, divided by the square root of
   its distinct items (``model_actors.items``: a cosine, as SKNN's), so a long history is not everyone's
   neighbour; actors with more than ``NEIGHBOUR_MAX_ITEMS`` items are not candidates (a query's reads stay
   bounded); the ``neighbours`` most similar (ties: the newer) vote each of their items with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

SESSION_ITEMS: Final = 10  # the actor's most recent items that look for neighbours (0.85**10: 0.2)
SAMPLE: Final = 250  # most recent actors read per item: bounds a query's reads (V-SKNN samples too)
# A neighbour votes all its items: one with more than this many is not a candidate (0: no bound), so a
# query never reads a heavy user's whole history (the 1M scale store's largest actor has 8,072 items, its
# median 8). make eval: 100 had the best validation mean (0.1637; 300 and no bound 0.1632).
NEIGHBOUR_MAX_ITEMS: Final = 100


def neighbour_votes(
    conn: sqlite3.Connection,
    own: Sequence[int],
    recent: Sequence[int],
    decay: float,
    neighbours: int,
    limit: int,
    items: int = SESSION_ITEMS,
    largest: int = NEIGHBOUR_MAX_ITEMS,
) -> list[tuple[str, float, float]]:
    """(item id, vote, log heat), best vote first, from the ``neighbours`` actors (not ``own``) most
    similar to the ``items`` most recent of ``recent`` (model item ids, most recent first)."""
    session = recent[:items]
    if not session or neighbours <= 0:
        return []
    values = ", ".join("(?, ?)" for _ in session)
    terms = [x for rank, item in enumerate(session) for x in (item, decay**rank)]
    marks = ", ".join("?" * len(own))
    # The floor is each item's SAMPLE-th newest actor (NULL for an item with fewer: no floor), found once
    # per item (MATERIALIZED keeps SQLite from re-running it per history row). Items are named only for
    # the best-voted ones, not for every row the neighbours have.
    rows = conn.execute(
        f"WITH session (item, weight) AS (VALUES {values}), "  # noqa: S608 - only placeholders formatted
        "floors AS MATERIALIZED (SELECT item, weight, (SELECT actor FROM model_history AS f "
        "INDEXED BY model_history_by_item WHERE f.item = session.item ORDER BY actor DESC "
        "LIMIT 1 OFFSET ? - 1) AS floor FROM session), "
        "overlap AS MATERIALIZED (SELECT h.actor, SUM(floors.weight) AS shared FROM floors "
        "JOIN model_history AS h INDEXED BY model_history_by_item ON h.item = floors.item "
        f"AND h.actor >= coalesce(floors.floor, 0) WHERE h.actor NOT IN ({marks}) GROUP BY h.actor), "
        "near AS MATERIALIZED (SELECT overlap.actor, overlap.shared * pow(max(a.items, 1), -0.5) "
        "AS similarity FROM overlap JOIN model_actors AS a ON a.id = overlap.actor "
        "WHERE ? <= 0 OR a.items <= ? ORDER BY similarity DESC, overlap.actor DESC LIMIT ?), "
        "voted AS MATERIALIZED (SELECT h.item, SUM(near.similarity) AS vote FROM near "
        "JOIN model_history AS h ON h.actor = near.actor GROUP BY h.item ORDER BY vote DESC, h.item LIMIT ?) "
        "SELECT i.item_id, voted.vote, i.log_heat FROM voted JOIN model_items AS i ON i.id = voted.item "
        "ORDER BY voted.vote DESC, i.item_id",
        (*terms, SAMPLE, *own, largest, largest, neighbours, limit),
    )
    return [(str(item), float(vote), float(heat)) for item, vote, heat in rows]


def merged(
    votes: Sequence[tuple[str, float, float]], others: Sequence[tuple[str, float, float]], weight: float
) -> list[tuple[str, float, float]]:
    """Two vote lists as one: each relative to its best vote, ``others`` times ``weight``, best first."""
    total: dict[str, tuple[float, float]] = {}
    for found, scale in ((votes, 1.0), (others, weight)):
        if not found:
            continue
        top = max(v for _, v, _ in found) or 1.0
        for item, vote, heat in found:
            previous = total.get(item, (0.0, heat))[0]
            total[item] = (previous + scale * vote / top, heat)
    return sorted(((i, v, h) for i, (v, h) in total.items()), key=lambda x: (-x[1], x[0]))
