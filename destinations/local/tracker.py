"""Local ``EventTracker``: PutEvents into the store, and the recommender learns from what is new."""

from __future__ import annotations

from destinations.local.recommender import LocalRecommender
from destinations.local.store import LocalStore
from schemas.interaction import EventBatch
from schemas.limits import PUT_EVENTS_MAX_EVENTS


class LocalEventTracker:
    """Implements ``ports.EventTracker``. Idempotent per ``event_id``: a redelivered event adds nothing.

    Storing the events and updating the model happen in one transaction, so a crash in between cannot
    leave events the model never learned from (a redelivery would find them "not new" and skip them).
    """

    def __init__(self, store: LocalStore, recommender: LocalRecommender | None = None) -> None:
        self._store = store
        self._recommender = recommender

    def put_events(self, batch: EventBatch) -> None:
        count = len(batch.interactions)
        # Same contract as the Personalize adapter: grouping never builds such a batch, so one is a bug in
        # the caller (ValueError, raised before anything is stored), not bad input to dead-letter.
        if not 1 <= count <= PUT_EVENTS_MAX_EVENTS:
            raise ValueError(f"PutEvents takes 1..{PUT_EVENTS_MAX_EVENTS} events, got {count}")
        with self._store.transaction():
            new = self._store.add_interactions(batch.interactions)
            if new and self._recommender is not None:
                self._recommender.learn(new)
