"""The local recommender on small datasets whose right answer is known by construction."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from destinations.local import LocalBackend
from schemas.errors import PermanentError
from schemas.interaction import EventBatch, Interaction
from schemas.limits import RECOMMENDATION_ID_MAX_LENGTH
from schemas.recommendation import Recommendation, RecommendationRequest

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
VIEW = "Product Viewed"
BUY = "Order Completed"


class World:
    """A backend plus a clock: every tracked event happens one minute after the previous one."""

    def __init__(self, state_dir: Path, purchase_event_types: frozenset[str] = frozenset({BUY})) -> None:
        self.state_dir = state_dir
        self.purchase_event_types = purchase_event_types
        self.backend = LocalBackend.open(state_dir, purchase_event_types)
        self._ids: Iterator[int] = itertools.count()

    def track(
        self, user: str | None, items: Sequence[str], event_type: str = VIEW, session: str = ""
    ) -> None:
        events = []
        for item in items:
            n = next(self._ids)
            sent_at = T0 + timedelta(minutes=n)
            events.append(Interaction(f"ev-{n}", event_type, session or f"s-{user}", sent_at, user, item))
        for start in range(0, len(events), 10):
            chunk = tuple(events[start : start + 10])
            self.backend.tracker.put_events(EventBatch(chunk[0].session_id, user, chunk))

    def recommend(
        self, user: str | None, num_results: int = 10, item_id: str | None = None
    ) -> Recommendation:
        request = RecommendationRequest(user, num_results=num_results, item_id=item_id)
        return self.backend.recommender.get_recommendations(request)

    def reopen(self) -> None:
        self.backend.close()
        self.backend = LocalBackend.open(self.state_dir, self.purchase_event_types)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.backend.close()


def popular_world(world: World) -> None:
    """P is the most popular item (6 users), Q next (3), R least (1); A and B are bought together."""
    for n in range(6):
        world.track(f"p{n}", ["P"])
    for n in range(3):
        world.track(f"q{n}", ["Q"])
    world.track("r0", ["R"])
    for n in range(3):
        world.track(f"ab{n}", ["A", "B"])


def assert_well_scored(rec: Recommendation) -> None:
    scores = [item.score for item in rec.items]
    assert all(s is not None and 0 < s <= 1 for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert len(set(rec.item_ids)) == len(rec.item_ids)


def test_empty_store_gives_an_empty_list(world: World) -> None:
    rec = world.recommend("anyone")
    assert rec.items == ()
    assert rec.user_id == "anyone"
    assert world.recommend(None, item_id="X").items == ()


def test_cold_user_gets_popular_items(world: World) -> None:
    popular_world(world)
    rec = world.recommend("newcomer")
    assert rec.item_ids[0] == "P"
    assert rec.item_ids[-1] == "R"
    assert set(rec.item_ids) == {"P", "Q", "R", "A", "B"}
    assert_well_scored(rec)
    assert world.recommend("newcomer", num_results=1).item_ids == ("P",)


def test_popularity_decays_with_age(world: World) -> None:
    long_ago, lately = T0 - timedelta(days=60), T0
    events = [Interaction(f"old-{n}", VIEW, f"s{n}", long_ago, f"o{n}", "OLD") for n in range(4)]
    events += [Interaction(f"new-{n}", VIEW, f"s{n}", lately, f"n{n}", "NEW") for n in range(2)]
    for e in events:
        world.backend.tracker.put_events(EventBatch(e.session_id, e.user_id, (e,)))
    assert world.recommend("newcomer", num_results=2).item_ids == ("NEW", "OLD")


def test_popularity_counts_distinct_users_not_events(world: World) -> None:
    for _ in range(10):
        world.track("fan", ["Z"])  # one user, many views
    world.track("a", ["Y"])
    world.track("b", ["Y"])
    assert world.recommend("newcomer", num_results=2).item_ids == ("Y", "Z")


def test_cooccurrence_beats_popularity_for_a_user_with_history(world: World) -> None:
    popular_world(world)
    world.track("target", ["A"])
    rec = world.recommend("target", num_results=5)
    assert rec.item_ids[0] == "B"
    assert rec.item_ids.index("B") < rec.item_ids.index("P")
    assert_well_scored(rec)


def test_recent_items_weigh_more(world: World) -> None:
    for n in range(2):
        world.track(f"x{n}", ["A", "B"])
        world.track(f"y{n}", ["C", "D"])
    world.track("target", ["A", "C"])  # C is the most recent
    assert world.recommend("target", num_results=2).item_ids == ("D", "B")


def test_purchased_items_are_never_recommended(world: World) -> None:
    popular_world(world)
    world.track("target", ["A"])
    world.track("target", ["B", "P"], event_type=BUY)
    rec = world.recommend("target", num_results=50)
    assert not {"B", "P"} & set(rec.item_ids)
    assert set(rec.item_ids) == {"A", "Q", "R"}
    assert_well_scored(rec)


def test_purchase_event_types_are_configurable(tmp_path: Path) -> None:
    world = World(tmp_path, frozenset({"Bought"}))
    world.track("other", ["A", "B"])
    world.track("target", ["A"], event_type="Bought")
    assert "A" not in world.recommend("target").item_ids
    world.backend.close()


def test_seen_items_come_after_unseen_ones(world: World) -> None:
    world.track("other", ["A", "B", "C"])
    world.track("target", ["A"])
    rec = world.recommend("target", num_results=3)
    assert rec.item_ids[-1] == "A"
    assert set(rec.item_ids) == {"A", "B", "C"}
    assert_well_scored(rec)
    # the score band says why an item is there: personal (> 2/3) ... seen (<= 1/3)
    assert rec.items[0].score is not None and rec.items[0].score > 2 / 3
    assert rec.items[-1].score is not None and rec.items[-1].score <= 1 / 3


def test_related_items_by_item_id(world: World) -> None:
    popular_world(world)
    world.track("cd", ["C", "D"])
    rec = world.recommend(None, num_results=4, item_id="A")
    assert rec.item_ids[0] == "B"
    assert "A" not in rec.item_ids
    assert rec.item_ids[1] == "P"  # then popularity fills
    assert rec.user_id == ""
    assert_well_scored(rec)
    # an unknown item falls back to popularity
    assert world.recommend(None, num_results=1, item_id="unknown").item_ids == ("P",)


def test_anonymous_sessions_teach_what_goes_together(world: World) -> None:
    world.track(None, ["A", "B"], session="anon-1")
    world.track(None, ["A", "B"], session="anon-2")
    world.track("x", ["C"])
    world.track("y", ["C"])
    world.track("target", ["A"])
    assert world.recommend("target", num_results=1).item_ids == ("B",)


def test_redelivered_events_are_not_learned_again(world: World) -> None:
    popular_world(world)
    world.track("target", ["A"])
    # Two ids already stored (content that would pair A with R if it were learned) and one new event.
    replayed = tuple(Interaction(f"ev-{n}", VIEW, "s-zz", T0, "zz", item) for n, item in ((0, "A"), (1, "R")))
    fresh = Interaction("zz-1", VIEW, "s-zz", T0, "zz", "S")
    world.backend.tracker.put_events(EventBatch("s-zz", "zz", (*replayed, fresh)))
    rec = world.recommend("target")
    personal = [item.item_id for item in rec.items if item.score is not None and item.score > 2 / 3]
    assert personal == ["B"]
    assert [i.event_id for i in world.backend.store.interactions_for("zz")] == ["zz-1"]


def test_model_persists_across_reopen(world: World) -> None:
    popular_world(world)
    world.track("target", ["A"])
    before = world.recommend("target")
    world.reopen()
    after = world.recommend("target")
    assert after.items == before.items
    # and keeps learning incrementally where it left off
    world.track("ac", ["A", "C"])
    world.track("ac2", ["A", "C"])
    world.track("ac3", ["A", "C"])
    world.track("ac4", ["A", "C"])
    assert world.recommend("target", num_results=1).item_ids == ("C",)


def test_num_results_is_honoured_and_checked(world: World) -> None:
    popular_world(world)
    assert len(world.recommend("newcomer", num_results=2).items) == 2
    assert len(world.recommend("newcomer", num_results=500).items) == 5
    for bad in (0, 501):
        with pytest.raises(PermanentError):
            world.recommend("newcomer", num_results=bad)
    with pytest.raises(PermanentError):
        world.recommend(None)


def test_each_call_gets_a_fresh_short_recommendation_id(world: World) -> None:
    popular_world(world)
    ids = {world.recommend("u").recommendation_id for _ in range(3)}
    assert len(ids) == 3
    assert all(0 < len(i) <= RECOMMENDATION_ID_MAX_LENGTH for i in ids)


def test_filter_arn_is_ignored_locally(world: World) -> None:
    popular_world(world)
    request = RecommendationRequest(
        "u", num_results=3, filter_arn="arn:aws:personalize:x", filter_values={"a": "b"}
    )
    assert world.backend.recommender.get_recommendations(request).item_ids == world.recommend("u", 3).item_ids
