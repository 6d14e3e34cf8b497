"""A store written before the compact layouts keeps a working model (issue 24): its interactions are migrated
and the model is rebuilt from them on open, the same model a replay of those events builds."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from destinations.local import LocalBackend
from schemas.interaction import Interaction
from schemas.recommendation import RecommendationRequest
from tests.unit.test_local_store_migration import T0, write_version_1

# The model tables pue wrote before its model's version 2 (as of commit 768cedf^, v1 interactions with them).
VERSION_1_MODEL = """
CREATE TABLE rec_actor_items (
    actor TEXT NOT NULL, item_id TEXT NOT NULL, last_ts REAL NOT NULL, tick INTEGER NOT NULL,
    PRIMARY KEY (actor, item_id)
) WITHOUT ROWID;
CREATE INDEX rec_actor_items_recent ON rec_actor_items (actor, last_ts DESC, tick DESC);
CREATE TABLE rec_pairs (
    item_a TEXT NOT NULL, item_b TEXT NOT NULL, actors INTEGER NOT NULL, PRIMARY KEY (item_a, item_b)
) WITHOUT ROWID;
CREATE INDEX rec_pairs_strongest ON rec_pairs (item_a, actors DESC, item_b);
CREATE TABLE rec_items (
    item_id TEXT PRIMARY KEY, actors INTEGER NOT NULL, log_heat REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX rec_items_hottest ON rec_items (log_heat DESC, item_id);
CREATE TABLE rec_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


def history() -> list[Interaction]:
    """12 users over 15 items; u0 the most active. Anonymous sessions too (they teach pairs as well)."""
    events = []
    for n in range(240):
        user = f"u{n % 12}" if n % 5 else "u0"
        events.append(
            Interaction(
                f"m-{n}",
                "Order Completed" if n % 17 == 0 else "Product Viewed",
                f"s-{user}",
                T0 + timedelta(minutes=n),
                None if n % 23 == 0 else user,
                f"i{(n * 7) % 15}",
                properties=json.dumps({"n": n}),
            )
        )
    return events


def write_old_store(state: Path, events: list[Interaction]) -> None:
    """Version-1 interactions with the version-1 model tables, filled as that model had learned them."""
    path = write_version_1(state, events)
    with sqlite3.connect(path) as conn:
        conn.executescript(VERSION_1_MODEL)
        conn.executemany(
            "INSERT INTO rec_pairs VALUES (?, ?, ?)",
            [(f"i{a}", f"i{b}", 1) for a in range(15) for b in range(15) if a != b],
        )
        conn.executemany("INSERT INTO rec_items VALUES (?, 12, 0.0)", [(f"i{a}",) for a in range(15)])
        conn.execute("INSERT INTO rec_meta VALUES ('tick', 240)")
    conn.close()


def model(state: Path) -> dict[str, list[tuple[object, ...]]]:
    """The model's rows with names for ids (ids are assigned per batch, so they depend on its bounds)."""
    with closing(sqlite3.connect(state / "pue.sqlite3")) as conn:
        return {
            "items": conn.execute(
                "SELECT item_id, actors, norm, unpruned, log_heat FROM model_items ORDER BY item_id"
            ).fetchall(),
            "pairs": conn.execute(
                "SELECT a.item_id, b.item_id, p.actors FROM model_pairs AS p "
                "JOIN model_items AS a ON a.id = p.a JOIN model_items AS b ON b.id = p.b ORDER BY 1, 2"
            ).fetchall(),
            "history": conn.execute(
                "SELECT a.actor, i.item_id, h.last_ts, h.tick FROM model_history AS h JOIN model_actors AS a "
                "ON a.id = h.actor JOIN model_items AS i ON i.id = h.item ORDER BY 1, 2"
            ).fetchall(),
        }


def most_active_list(state: Path) -> list[str]:
    backend = LocalBackend.open(state)
    try:
        user = backend.store.known_users(limit=1)[0]
        assert user == "u0"
        answer = backend.recommender.get_recommendations(RecommendationRequest(user_id=user, num_results=10))
    finally:
        backend.close()
    return [item.item_id for item in answer.items]


def test_an_old_store_has_its_model_rebuilt_on_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events = history()
    write_old_store(tmp_path / "old", events)
    with caplog.at_level(logging.WARNING):
        items = most_active_list(tmp_path / "old")
    assert items, "the most active user of a migrated store gets a list"
    assert "rebuilding the recommender's model from the store's 240 interactions" in caplog.text
    # The same model as the same events tracked into a fresh store (stored and learned as the tracker does),
    # in batches of another size: learning does not depend on where batches end.
    fresh = LocalBackend.open(tmp_path / "fresh")
    try:
        for start in range(0, len(events), 35):
            with fresh.store.transaction():
                fresh.recommender.learn(fresh.store.add_interactions(events[start : start + 35]))
    finally:
        fresh.close()
    old, new = model(tmp_path / "old"), model(tmp_path / "fresh")
    assert old["pairs"] and old["pairs"] == new["pairs"]
    assert old["history"] and old["history"] == new["history"]
    # Items: the same, but for the last bits of the decayed popularity (summed in another order).
    assert [row[:-1] for row in old["items"]] == [row[:-1] for row in new["items"]]
    assert [row[-1] for row in old["items"]] == pytest.approx([row[-1] for row in new["items"]])
    assert items == most_active_list(tmp_path / "fresh")


def test_a_store_whose_model_learned_is_not_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_old_store(tmp_path / "old", history())
    most_active_list(tmp_path / "old")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        most_active_list(tmp_path / "old")
    assert "rebuilding" not in caplog.text
