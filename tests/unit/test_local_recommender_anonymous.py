"""Anonymous visitors on the local recommender, with Personalize's semantics: an id known only as an
anonymousId (the session of anonymous events) is answered from that session; once the visitor identifies
(an event with both ids), the user's list draws on the anonymous history too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_local_recommender import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    # A goes with B, C goes with D; P is the most popular item by far.
    for n in range(3):
        w.track(f"ab{n}", ["A", "B"])
        w.track(f"cd{n}", ["C", "D"])
    for n in range(8):
        w.track(f"p{n}", ["P"])
    yield w
    w.backend.close()


def personal(world: World, user: str) -> list[str]:
    """The items ranked from the history (the top score band), best first."""
    rec = world.recommend(user, num_results=5)
    return [i.item_id for i in rec.items if i.score is not None and i.score > 2 / 3]


def test_an_anonymous_visitor_is_answered_from_its_own_session(world: World) -> None:
    world.track(None, ["A"], session="visitor-1")
    assert world.recommend("visitor-1", num_results=1).item_ids == ("B",)
    assert personal(world, "visitor-1") == ["B"]


def test_an_unknown_id_still_gets_popular_items(world: World) -> None:
    assert world.recommend("nobody", num_results=1).item_ids == ("P",)
    assert personal(world, "nobody") == []


def test_the_most_recent_click_of_a_session_leads(world: World) -> None:
    world.track(None, ["A", "C"], session="visitor-2")
    assert personal(world, "visitor-2")[:2] == ["D", "B"]


def test_a_user_who_identifies_keeps_the_anonymous_history(world: World) -> None:
    world.track(None, ["A"], session="visitor-3")
    world.track("alice", ["C"], session="visitor-3")  # the event that carries both ids
    assert set(personal(world, "alice")) == {"B", "D"}
    assert personal(world, "alice")[0] == "D"  # her latest item leads
    # The anonymousId alone is still that session, as Personalize answers a sessionId.
    assert personal(world, "visitor-3") == ["B"]


def test_a_user_without_that_session_does_not_get_its_history(world: World) -> None:
    world.track(None, ["A"], session="visitor-4")
    world.track("bob", ["C"], session="visitor-5")  # another anonymousId: no link
    assert personal(world, "bob") == ["D"]


def test_a_user_id_wins_over_a_session_of_the_same_name(world: World) -> None:
    world.track(None, ["A"], session="carol")
    world.track("carol", ["C"], session="s-carol")
    assert personal(world, "carol") == ["D"]
