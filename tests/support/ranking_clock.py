"""Small models for the local recommender's ranking tests: a store, and users' views tracked at set times."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from destinations.local.recommender import LocalRecommender, ModelParameters
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker
from schemas.interaction import EventBatch, Interaction
from schemas.limits import PUT_EVENTS_MAX_EVENTS
from schemas.recommendation import RecommendationRequest

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PURCHASES = frozenset({"Order Completed"})


class Clock:
    """Tracks "Product Viewed" events through the tracker, one second apart, from a given time."""

    def __init__(self, store: LocalStore, params: ModelParameters) -> None:
        self.tracker = LocalEventTracker(store, LocalRecommender(store, PURCHASES, params))
        self._ids = itertools.count()

    def track(self, user: str, items: Sequence[str], at: datetime = T0) -> None:
        for start in range(0, len(items), PUT_EVENTS_MAX_EVENTS):
            events = tuple(
                Interaction(
                    f"ev-{next(self._ids)}", "Product Viewed", f"s-{user}", at + timedelta(seconds=n), user, i
                )
                for n, i in enumerate(items[start : start + PUT_EVENTS_MAX_EVENTS], start=start)
            )
            self.tracker.put_events(EventBatch(f"s-{user}", user, events))


def ranked(store: LocalStore, params: ModelParameters, user: str, wanted: int = 2) -> tuple[str, ...]:
    """The user's list (item ids) as ranked with ``params``."""
    recommender = LocalRecommender(store, PURCHASES, params)
    return recommender.get_recommendations(RecommendationRequest(user, num_results=wanted)).item_ids
