"""How the local recommender weighs a vote: popularity damping, lift over chance, the popularity blend.

Each test learns one small model and ranks it with two parameter sets that differ in one knob only, so the
order that flips is the knob's doing (the defaults are covered by test_local_recommender.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from destinations.local.recommender import LocalRecommender, ModelParameters
from destinations.local.store import LocalStore
from schemas.recommendation import RecommendationRequest
from tests.support.ranking_clock import PURCHASES, T0, Clock, ranked

PLAIN = ModelParameters(  # cosine votes (no lift), popularity only as a fill, no session neighbours
    damping=0.5, anchor_damping=0.5, lift=0.0, popularity_weight=0.0, session_weight=0.0
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    s = LocalStore(tmp_path / "pue.sqlite3")
    yield s
    s.close()


def test_damping_trades_a_niche_neighbour_for_a_popular_one(store: LocalStore) -> None:
    clock = Clock(store, PLAIN)
    for n in range(2):
        clock.track(f"niche{n}", ["A", "N"], T0)  # N: 2 actors, both with A
    for n in range(3):
        clock.track(f"pop{n}", ["A", "P"], T0)  # P: 3 with A ...
    for n in range(20):
        clock.track(f"fan{n}", ["P"], T0)  # ... and 20 without
    clock.track("target", ["A"], T0 + timedelta(hours=1))
    # a cosine (damping 0.5): 2 / sqrt(2) for N beats 3 / sqrt(23) for P; raw counts (0): 3 beat 2
    assert ranked(store, PLAIN, "target") == ("N", "P")
    assert ranked(store, replace(PLAIN, damping=0.0), "target") == ("P", "N")


def test_recent_popularity_is_blended_by_event_time_not_total_count(store: LocalStore) -> None:
    clock = Clock(store, PLAIN)
    weeks_later = T0 + timedelta(weeks=8)  # popularity's half-life is a week of event time
    for n in range(6):
        clock.track(f"old{n}", ["C"], T0)  # C: 6 viewers, long ago
    for n in range(2):
        clock.track(f"c{n}", ["A", "C"], weeks_later)
        clock.track(f"z{n}", ["A", "Z"], weeks_later)
        clock.track(f"new{n}", ["Z"], weeks_later)  # Z: fewer viewers in all, but recent ones
    clock.track("target", ["A"], weeks_later + timedelta(hours=1))
    raw = replace(PLAIN, damping=0.0)  # C and Z get equal votes (2 co-occurrences each): a tie
    assert ranked(store, raw, "target") == ("C", "Z")  # tie broken by item id
    assert ranked(store, replace(raw, popularity_weight=0.5), "target") == ("Z", "C")
    # the blend only re-orders voted items; they keep the personal score band
    recommender = LocalRecommender(store, PURCHASES, replace(raw, popularity_weight=0.5))
    items = recommender.get_recommendations(RecommendationRequest("target", num_results=2)).items
    assert all(item.score is not None and item.score > 2 / 3 for item in items)


def test_lift_trades_a_neighbour_everyone_has_for_one_that_goes_with_the_anchor(store: LocalStore) -> None:
    clock = Clock(store, PLAIN)
    for n in range(10):
        clock.track(f"a{n}", ["A", *(["P"] if n < 4 else ["N"] if n < 7 else [])], T0)
    for n in range(36):
        clock.track(f"fan{n}", ["P"], T0)  # P: 40 of 47 users, but only 4 of A's 10: below chance
    clock.track("target", ["A"], T0 + timedelta(hours=1))
    raw = replace(PLAIN, damping=0.0)  # raw co-occurrences: P (4 users with A) beats N (3)
    assert ranked(store, raw, "target") == ("P", "N")
    lifted = replace(raw, lift=1.0)  # P co-occurs with A less than chance: N, which only comes with A, wins
    assert ranked(store, lifted, "target") == ("N", "P")
    # a pair below chance still counts a little: P stays a related item, in the personal score band
    recommender = LocalRecommender(store, PURCHASES, lifted)
    items = recommender.get_recommendations(RecommendationRequest("target", num_results=2)).items
    assert all(item.score is not None and item.score > 2 / 3 for item in items)
