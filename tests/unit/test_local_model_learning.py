"""The local model's batch learning: same model as one event at a time, idempotent, bounded by pruning."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from destinations.local import model_learning
from destinations.local.recommender import LocalRecommender, ModelParameters
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker
from schemas.interaction import EventBatch, Interaction
from schemas.recommendation import RecommendationRequest

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def random_events(n: int, seed: int = 3, anonymous: float = 0.0) -> list[Interaction]:
    """Events of 30 users over 40 items, with repeats, late (out-of-order) events and one buy type;
    an ``anonymous`` share of them has a session and no user (the session is the actor)."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        user = f"u{rng.randrange(30)}"
        late = rng.random() < 0.1
        sent_at = T0 + timedelta(minutes=i - (500 if late else 0))
        kind = "Order Completed" if rng.random() < 0.05 else "Product Viewed"
        who = None if rng.random() < anonymous else user
        events.append(Interaction(f"e{i}", kind, f"s-{user}", sent_at, who, f"i{rng.randrange(40)}"))
    return events


def chunks(events: list[Interaction]) -> Iterator[EventBatch]:
    for start in range(0, len(events), 5):
        part = events[start : start + 5]
        for e in part:
            yield EventBatch(e.session_id, e.user_id, (e,))


def open_model(path: Path, params: ModelParameters) -> tuple[LocalStore, LocalEventTracker, LocalRecommender]:
    store = LocalStore(path)
    recommender = LocalRecommender(store, parameters=params)
    return store, LocalEventTracker(store, recommender), recommender


def learn_one_by_one_and_in_batches(
    tmp_path: Path, events: list[Interaction], params: ModelParameters, batch: int = 100
) -> tuple[LocalStore, LocalStore]:
    """The same events learned one PutEvents call at a time, and in ``batch()``es of ``batch`` events."""
    one_store, one_tracker, _ = open_model(tmp_path / "one.sqlite3", params)
    for put in chunks(events):
        one_tracker.put_events(put)
    many_store, many_tracker, _ = open_model(tmp_path / "many.sqlite3", params)
    for start in range(0, len(events), batch):
        with many_tracker.batch():
            for put in chunks(events[start : start + batch]):
                many_tracker.put_events(put)
    return one_store, many_store


def dump(store: LocalStore) -> dict[str, list[tuple[object, ...]]]:
    """The model by names, not ids (ids depend on the order keys were first met), floats rounded."""
    queries = {
        "items": "SELECT item_id, actors, round(norm, 9), round(log_heat, 9) FROM model_items",
        "history": "SELECT a.actor, i.item_id, h.last_ts, h.tick FROM model_history AS h "
        "JOIN model_actors AS a ON a.id = h.actor JOIN model_items AS i ON i.id = h.item",
        "pairs": "SELECT x.item_id, y.item_id, p.actors FROM model_pairs AS p "
        "JOIN model_items AS x ON x.id = p.a JOIN model_items AS y ON y.id = p.b",
        "meta": "SELECT key, value FROM model_meta",
    }
    with store.transaction(write=False) as conn:
        return {name: sorted(conn.execute(sql).fetchall()) for name, sql in queries.items()}


@pytest.mark.parametrize("neighbours", [200, 3])
def test_a_batch_learns_exactly_what_the_events_one_by_one_learn(tmp_path: Path, neighbours: int) -> None:
    events = random_events(400)
    params = ModelParameters(window=4, neighbours=neighbours)
    one_store, one_tracker, _ = open_model(tmp_path / "one.sqlite3", params)
    for batch in chunks(events):
        one_tracker.put_events(batch)
    many_store, many_tracker, _ = open_model(tmp_path / "many.sqlite3", params)
    for start in range(0, len(events), 100):
        with many_tracker.batch():
            for batch in chunks(events[start : start + 100]):
                many_tracker.put_events(batch)
    one, many = dump(one_store), dump(many_store)
    assert one["pairs"], "the events must have taught some pairs"
    if neighbours == 200:
        assert one == many
    else:
        # Pruning runs per learn call, so when it runs differs; everything else is the same.
        assert {k: v for k, v in one.items() if k != "pairs"} == {
            k: v for k, v in many.items() if k != "pairs"
        }


@pytest.mark.parametrize(("window", "batch"), [(1, 100), (4, 7), (20, 100), (20, 400)])
def test_batches_with_anonymous_sessions_learn_what_the_events_one_by_one_learn(
    tmp_path: Path, window: int, batch: int
) -> None:
    events = random_events(400, seed=window + batch, anonymous=0.3)
    one_store, many_store = learn_one_by_one_and_in_batches(
        tmp_path, events, ModelParameters(window=window, neighbours=1000), batch
    )
    one, many = dump(one_store), dump(many_store)
    assert any(str(actor).startswith("s:") for actor, *_ in one["history"]), "sessions must be actors"
    assert any(int(str(n)) > 1 for *_, n in one["pairs"]), "some pairs must be met by several actors"
    assert one == many


def test_item_ids_beyond_32_bits_learn_the_same_model(tmp_path: Path) -> None:
    """Pair keys pack two item ids into one int: ids of any size must not collide."""
    events = random_events(300, seed=11)
    params = ModelParameters(window=6, neighbours=1000)
    expected = dump(learn_one_by_one_and_in_batches(tmp_path / "small", events, params)[0])
    big = tmp_path / "big"
    for name in ("one.sqlite3", "many.sqlite3"):
        store, _, _ = open_model(big / name, params)
        with store.transaction() as conn:  # every item learned from now on gets an id above 2**40
            conn.execute(
                "INSERT INTO model_items (id, item_id, actors, norm, log_heat) VALUES (?, 'x', 0, 0, -1e308)",
                (2**40,),
            )
        store.close()
    for store in learn_one_by_one_and_in_batches(big, events, params):
        learned = dump(store)
        with store.transaction(write=False) as conn:
            assert conn.execute("SELECT MIN(id) FROM model_items WHERE item_id != 'x'").fetchone()[0] > 2**40
        learned["items"] = [row for row in learned["items"] if row[0] != "x"]
        assert learned == expected


def test_a_sqlite_without_json_functions_learns_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pair increments go as one JSON array where SQLite has json_each, one row at a time where not."""
    events = random_events(300, seed=5)
    params = ModelParameters(window=6, neighbours=5)
    with_json = dump(learn_one_by_one_and_in_batches(tmp_path / "json", events, params)[1])
    probed: list[bool] = []
    real_probe = model_learning.has_json_each

    def no_json_each() -> bool:
        probed.append(True)
        return False

    monkeypatch.setattr(model_learning, "has_json_each", no_json_each)
    without = dump(learn_one_by_one_and_in_batches(tmp_path / "rows", events, params)[1])
    assert probed, "the fallback path was not taken"
    assert without == with_json
    assert real_probe()  # this machine's SQLite (3.38+ builds it in)


def test_learning_the_same_events_again_changes_nothing(tmp_path: Path) -> None:
    events = random_events(300)
    store, tracker, recommender = open_model(tmp_path / "m.sqlite3", ModelParameters())
    for batch in chunks(events):
        tracker.put_events(batch)
    before = dump(store)
    lists = [
        recommender.get_recommendations(RecommendationRequest(f"u{n}", num_results=10)) for n in range(30)
    ]
    with tracker.batch():
        for batch in chunks(events):
            tracker.put_events(batch)
    assert dump(store) == before
    again = [
        recommender.get_recommendations(RecommendationRequest(f"u{n}", num_results=10)) for n in range(30)
    ]
    assert [r.items for r in again] == [r.items for r in lists]


def test_pruning_keeps_each_items_strongest_neighbours(tmp_path: Path) -> None:
    store, tracker, _ = open_model(tmp_path / "m.sqlite3", ModelParameters(window=50, neighbours=4))
    n = 0
    # Hub is seen with S1..S3 by five users each (strong) and with W0..W29 by one user each (weak).
    for user in range(5):
        for item in ("HUB", "S1", "S2", "S3"):
            tracker.put_events(
                EventBatch("s", f"strong{user}", (Interaction(f"x{n}", "V", "s", T0, f"strong{user}", item),))
            )
            n += 1
    for weak in range(30):
        for item in ("HUB", f"W{weak}"):
            tracker.put_events(
                EventBatch("s", f"weak{weak}", (Interaction(f"x{n}", "V", "s", T0, f"weak{weak}", item),))
            )
            n += 1
    with store.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT b.item_id, p.actors FROM model_pairs AS p JOIN model_items AS a ON a.id = p.a "
            "JOIN model_items AS b ON b.id = p.b WHERE a.item_id = 'HUB' ORDER BY p.actors DESC"
        ).fetchall()
    assert len(rows) <= 4 + 2  # neighbours + slack
    assert {item for item, _ in rows[:3]} == {"S1", "S2", "S3"}
    assert all(count == 5 for _, count in rows[:3])


def test_a_prune_keeps_exactly_each_items_strongest_neighbours_by_actors_then_id(tmp_path: Path) -> None:
    """One batch, every item due (slack 1): each list is the unpruned list's first 3 by (actors desc, id)."""
    events = random_events(400, seed=5)
    lists: dict[int, dict[str, list[tuple[str, int]]]] = {}
    for neighbours in (3, 1000):
        store, tracker, _ = open_model(
            tmp_path / f"n{neighbours}.sqlite3", ModelParameters(neighbours=neighbours)
        )
        with tracker.batch():
            for put in chunks(events):
                tracker.put_events(put)
        with store.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT x.item_id, p.b, y.item_id, p.actors FROM model_pairs AS p "
                "JOIN model_items AS x ON x.id = p.a JOIN model_items AS y ON y.id = p.b "
                "ORDER BY x.item_id, p.actors DESC, p.b"
            ).fetchall()
        by_item: dict[str, list[tuple[str, int]]] = {}
        for item, _, other, actors in rows:
            by_item.setdefault(item, []).append((other, actors))
        lists[neighbours] = by_item
    assert any(len(full) > 3 for full in lists[1000].values()), "some lists must have been cut"
    assert lists[3] == {item: full[:3] for item, full in lists[1000].items()}


def test_a_failed_call_inside_a_batch_leaves_nothing_and_the_rest_commits(tmp_path: Path) -> None:
    store, tracker, recommender = open_model(tmp_path / "m.sqlite3", ModelParameters())
    good = Interaction("g1", "V", "s", T0, "u1", "A")
    with tracker.batch():
        tracker.put_events(EventBatch("s", "u1", (good,)))
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
            conn.execute("INSERT INTO model_meta (key, value) VALUES ('probe', 1)")
            conn.execute("INSERT INTO model_meta (key, value) VALUES ('probe', 2)")  # fails: duplicate key
    with store.transaction(write=False) as conn:
        assert conn.execute("SELECT COUNT(*) FROM model_meta WHERE key = 'probe'").fetchone()[0] == 0
    assert [i.event_id for i in store.interactions_for("u1")] == ["g1"]
    other = recommender.get_recommendations(RecommendationRequest("u2", num_results=1))
    assert other.item_ids == ("A",)  # learned at the end of the batch


def _learn_batches(tracker: LocalEventTracker, batches: list[list[Interaction]]) -> None:
    for events in batches:
        with tracker.batch():
            for e in events:
                tracker.put_events(EventBatch(e.session_id, e.user_id, (e,)))


def test_an_actor_met_before_pairs_with_its_history_and_a_new_one_only_within_its_batch(
    tmp_path: Path,
) -> None:
    # The reads of an actor's history are skipped for actors created in the batch (model_learning): an
    # actor known from an earlier batch must still have its history read.
    store, tracker, _ = open_model(tmp_path / "m.sqlite3", ModelParameters(window=4))
    at = [T0 + timedelta(minutes=m) for m in range(6)]
    first = [Interaction("e1", "V", "s1", at[0], "u1", "A"), Interaction("e2", "V", "s1", at[1], "u1", "B")]
    second = [Interaction("e3", "V", "s1", at[2], "u1", "C"), Interaction("e4", "V", "s2", at[3], "u2", "C")]
    second.append(Interaction("e5", "V", "s2", at[4], "u2", "D"))
    _learn_batches(tracker, [first, second])
    pairs = dump(store)["pairs"]
    expected = {("A", "B", 1), ("A", "C", 1), ("B", "C", 1), ("C", "D", 1)}
    assert pairs == sorted(expected | {(b, a, n) for a, b, n in expected})


def _links(store: LocalStore) -> list[tuple[object, ...]]:
    with store.transaction(write=False) as conn:
        return conn.execute(
            "SELECT u.actor, s.actor FROM model_links JOIN model_actors AS u ON u.id = model_links.user "
            "JOIN model_actors AS s ON s.id = model_links.session ORDER BY 1, 2"
        ).fetchall()


def test_a_user_is_linked_to_an_earlier_anonymous_session_and_only_to_one(tmp_path: Path) -> None:
    store, tracker, _ = open_model(tmp_path / "m.sqlite3", ModelParameters())
    identified = [Interaction("e1", "V", "s-u1", T0, "u1", "A")]
    _learn_batches(tracker, [identified])
    assert _links(store) == []  # no anonymous actor at all: nothing to link
    anonymous = [Interaction("e2", "V", "s-anon", T0 + timedelta(minutes=1), None, "B")]
    login = [
        Interaction("e3", "V", "s-anon", T0 + timedelta(minutes=2), "u2", "C"),  # the anonymous session's
        Interaction("e4", "V", "s-u3", T0 + timedelta(minutes=3), "u3", "C"),  # no anonymous events
    ]
    _learn_batches(tracker, [anonymous, login])
    assert _links(store) == [("u:u2", "s:s-anon")]
