"""Pair pruning (destinations/local/pair_pruning.py): each item keeps exactly its ``neighbours`` strongest
pairs by (actors DESC, b ASC), whichever of its two statements cuts the list."""

from __future__ import annotations

import random
import sqlite3

import pytest

from destinations.local import pair_pruning
from destinations.local.schema import MODEL_SCHEMA


def pairs_table(lists: dict[int, dict[int, int]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(MODEL_SCHEMA)
    rows = [(a, b, actors) for a, pairs in lists.items() for b, actors in pairs.items()]
    conn.executemany("INSERT INTO model_pairs (a, b, actors) VALUES (?, ?, ?)", rows)
    return conn


def strongest(pairs: dict[int, int], neighbours: int) -> set[int]:
    """The reference: rank every pair, keep the first ``neighbours``."""
    ranked = sorted(pairs.items(), key=lambda pair: (-pair[1], pair[0]))
    return {b for b, _ in ranked[:neighbours]}


def kept(conn: sqlite3.Connection, a: int) -> set[int]:
    return {b for (b,) in conn.execute("SELECT b FROM model_pairs WHERE a = ?", (a,))}


def shaped(rng: random.Random, size: int, strong: int) -> dict[int, int]:
    """``size`` pairs of which ``strong`` have more than one actor (ties among them too)."""
    others = rng.sample(range(1, 10 * size + 10), size)
    return {b: (rng.choice([2, 2, 3, 5]) if i < strong else 1) for i, b in enumerate(others)}


@pytest.mark.parametrize(
    ("size", "strong"),
    [
        (3, 0),  # shorter than the bound: nothing goes
        (10, 0),  # exactly the bound
        (11, 0),  # one over, every pair met once: the walk
        (40, 0),
        (40, 9),  # one short of the bound in strong pairs: one single stays
        (40, 10),  # exactly the bound in strong pairs: every single goes (the sort)
        (40, 25),
        (40, 40),
        (12, 11),
    ],
)
def test_each_item_keeps_exactly_its_strongest_pairs(size: int, strong: int) -> None:
    rng = random.Random(size * 100 + strong)
    lists = {a: shaped(rng, size, strong) for a in (1, 2, 3)}
    conn = pairs_table(lists)
    pair_pruning.prune(conn, [1, 3], neighbours=10)
    assert kept(conn, 1) == strongest(lists[1], 10)
    assert kept(conn, 3) == strongest(lists[3], 10)
    assert kept(conn, 2) == set(lists[2])  # not due: untouched


def test_random_lists_against_the_reference() -> None:
    rng = random.Random(7)
    lists = {a: shaped(rng, rng.randrange(1, 60), rng.randrange(0, 30)) for a in range(1, 300)}
    for pairs in lists.values():  # a strong share above the list's size means every pair is strong
        for b in list(pairs)[: rng.randrange(0, len(pairs) + 1)]:
            pairs[b] = max(pairs[b], rng.choice([1, 2, 7]))
    conn = pairs_table(lists)
    due = sorted(rng.sample(sorted(lists), 200))
    pair_pruning.prune(conn, due, neighbours=12)
    for a, pairs in lists.items():
        assert kept(conn, a) == (strongest(pairs, 12) if a in due else set(pairs)), a
