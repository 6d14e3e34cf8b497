"""Pruning of the model's pair lists: each item keeps its ``neighbours`` strongest pairs, exactly.

Strongest: by distinct actors, then by the other item's id (``actors DESC, b ASC``: deterministic). The
rank's cut is found without sorting the list when it can be. A pair is inserted with one actor and only
ever gains more, so one is the least a pair has, and on a visitor-heavy archive most of a list is pairs
met once (92 % of the 300k visitors store's rows). When fewer than ``neighbours`` pairs have more than one
actor, those all stay, and the cut lies among the single-actor pairs, ranked by ``b`` alone: their rows
in key order, a walk. Only the other lists are sorted. (Pruning was ~10 % of the 1M visitors replay's
main process, half or more of each prune the sort.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Final

_IN_CHUNK: Final = 500  # bound parameters per statement, well below old SQLite builds' 999

# The cut among single-actor pairs: keep the first ?2 of them by b, delete those after.
_PRUNE_SINGLES: Final = (
    "DELETE FROM model_pairs WHERE a = ?1 AND actors = 1 AND b > "
    "(SELECT b FROM model_pairs WHERE a = ?1 AND actors = 1 ORDER BY b LIMIT 1 OFFSET ?2 - 1)"
)
# The general cut: everything ranked below the ?2-th row (none when the list is no longer than that: the
# EXISTS, a walk in key order, saves the sort).
_PRUNE_RANKED: Final = (
    "DELETE FROM model_pairs WHERE a = ?1 "
    "AND EXISTS (SELECT 1 FROM model_pairs WHERE a = ?1 LIMIT 1 OFFSET ?2) AND (actors, -b) < "
    "(SELECT actors, -b FROM model_pairs WHERE a = ?1 ORDER BY actors DESC, b LIMIT 1 OFFSET ?2 - 1)"
)


def prune(conn: sqlite3.Connection, due: Sequence[int], neighbours: int) -> None:
    """Keep the ``neighbours`` strongest pairs of each item in ``due`` (sorted ids); the caller holds the
    write transaction."""
    strong: dict[int, int] = {}  # item -> its pairs with more than one actor
    for start in range(0, len(due), _IN_CHUNK):
        chunk = due[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        strong.update(
            conn.execute(
                f"SELECT a, count(*) FROM model_pairs WHERE a IN ({marks}) AND actors > 1 GROUP BY a",  # noqa: S608
                chunk,
            )
        )
    singles = [(a, neighbours - strong.get(a, 0)) for a in due if strong.get(a, 0) < neighbours]
    ranked = [(a, neighbours) for a in due if strong.get(a, 0) >= neighbours]
    conn.executemany(_PRUNE_SINGLES, singles)
    conn.executemany(_PRUNE_RANKED, ranked)
