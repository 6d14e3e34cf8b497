"""The session-neighbour vote blended with the co-occurrence votes, and the history sizes it reads.

Each ranking test learns one small model and ranks it with the blend off (``session_weight`` 0) and on, so
the order that flips is the neighbours' doing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from destinations.local.recommender import ModelParameters
from destinations.local.session_neighbours import neighbour_votes
from destinations.local.store import LocalStore
from tests.support.ranking_clock import T0, Clock, ranked

PLAIN = ModelParameters(  # cosine co-occurrence votes, no popularity blend, no session neighbours
    damping=0.5, anchor_damping=0.5, lift=0.0, popularity_weight=0.0, session_weight=0.0
)
BLENDED = replace(PLAIN, session_weight=4.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    s = LocalStore(tmp_path / "pue.sqlite3")
    yield s
    s.close()


def test_an_actor_who_had_the_whole_recent_history_outvotes_items_that_go_with_one_item(
    store: LocalStore,
) -> None:
    clock = Clock(store, PLAIN)
    for n in range(4):
        clock.track(f"a{n}", ["A", "X"])  # X goes with A, one item at a time
    for n in range(3):
        clock.track(f"twin{n}", ["A", "B", "C", "Y"])  # Y: what actors with A, B and C went on to have
    for n in range(60):
        clock.track(f"fan{n}", ["Y"])  # ... and many more without them: Y's co-occurrence cosines are low
    clock.track("target", ["A", "B", "C"], T0 + timedelta(hours=1))
    assert ranked(store, PLAIN, "target")[0] == "X"
    assert ranked(store, BLENDED, "target")[0] == "Y"


def test_a_neighbour_with_a_long_history_counts_less_than_one_that_is_only_this_history(
    store: LocalStore,
) -> None:
    clock = Clock(store, PLAIN)
    clock.track("short", ["A", "B", "S"])
    clock.track("long", ["A", "B", "L", *(f"other{n}" for n in range(30))])
    clock.track("target", ["A", "B"], T0 + timedelta(hours=1))
    # Only neighbours vote here (every co-occurrence vote of S and L is equal: one actor each with A, B).
    neighbours_only = replace(PLAIN, session_weight=1000.0)
    assert ranked(store, neighbours_only, "target") == ("S", "L")
    with store.transaction() as conn:  # equal sizes: equal similarities, and the tie goes by item id
        conn.execute("UPDATE model_actors SET items = 3")
    assert ranked(store, neighbours_only, "target") == ("L", "S")


def test_learning_counts_each_actors_distinct_items(store: LocalStore) -> None:
    clock = Clock(store, PLAIN)
    clock.track("u", ["A", "B", "A", "C"])
    clock.track("u", ["C", "D"], T0 + timedelta(minutes=5))  # C again: not a new item
    clock.track("v", ["A"])
    with store.transaction(write=False) as conn:
        sizes = dict(conn.execute("SELECT actor, items FROM model_actors").fetchall())
        history = dict(
            conn.execute(
                "SELECT a.actor, COUNT(*) FROM model_history AS h "
                "JOIN model_actors AS a ON a.id = h.actor GROUP BY h.actor"
            ).fetchall()
        )
    assert sizes == {"u:u": 4, "u:v": 1}
    assert sizes == history


def test_a_store_written_before_the_history_sizes_gets_them_counted_and_answers_the_same(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pue.sqlite3"
    store = LocalStore(path)
    clock = Clock(store, PLAIN)
    for n in range(4):
        clock.track(f"a{n}", ["A", "X"])
    clock.track("twin", ["A", "B", "C", "Y"])
    clock.track("target", ["A", "B", "C"], T0 + timedelta(hours=1))
    before = ranked(store, BLENDED, "target", wanted=5)
    store.close()
    raw = sqlite3.connect(path)  # the layout before model_actors.items
    raw.execute("ALTER TABLE model_actors DROP COLUMN items")
    raw.commit()
    raw.close()
    reopened = LocalStore(path)
    try:
        assert ranked(reopened, BLENDED, "target", wanted=5) == before
        with reopened.transaction(write=False) as conn:
            sizes = dict(conn.execute("SELECT actor, items FROM model_actors").fetchall())
        assert sizes["u:twin"] == 4 and sizes["u:target"] == 3 and sizes["u:a0"] == 2
    finally:
        reopened.close()


def test_an_actor_with_more_items_than_the_bound_is_no_neighbour(store: LocalStore) -> None:
    clock = Clock(store, PLAIN)
    clock.track("short", ["A", "B", "S"])
    clock.track("long", ["A", "B", "L", *(f"other{n}" for n in range(30))])
    clock.track("target", ["A", "B"], T0 + timedelta(hours=1))
    with store.transaction(write=False) as conn:
        own = [int(conn.execute("SELECT id FROM model_actors WHERE actor = 'u:target'").fetchone()[0])]
        recent = [int(r[0]) for r in conn.execute("SELECT item FROM model_history WHERE actor = ?", own)]
        unbounded = {item for item, _, _ in neighbour_votes(conn, own, recent, 0.85, 100, 100, largest=0)}
        bounded = {item for item, _, _ in neighbour_votes(conn, own, recent, 0.85, 100, 100, largest=10)}
    assert {"S", "L", "other0"} <= unbounded
    assert "S" in bounded and not {"L", "other0"} & bounded  # "long" has 33 items: over the bound


def test_a_history_longer_than_session_history_weighs_the_neighbours_less(store: LocalStore) -> None:
    clock = Clock(store, PLAIN)
    for n in range(4):
        clock.track(f"a{n}", ["A", "X"])
    for n in range(3):
        clock.track(f"twin{n}", ["A", "B", "C", "Y"])
    for n in range(60):
        clock.track(f"fan{n}", ["Y"])
    clock.track("target", ["A", "B", "C"], T0 + timedelta(hours=1))
    light = replace(PLAIN, session_weight=0.24)  # here the neighbours lead from about 0.15 on
    # Three items: within a history of 3 the neighbours keep their whole weight...
    assert ranked(store, replace(light, session_history=3), "target")[0] == "Y"
    # ... beyond it they weigh session_history / 3 as much (0.08), and the co-occurrence votes lead again.
    assert ranked(store, replace(light, session_history=1), "target")[0] == "X"
