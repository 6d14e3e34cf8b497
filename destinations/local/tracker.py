"""Local ``EventTracker``: PutEvents into the store, and the recommender learns from what is new."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from destinations.local.recommender import LocalRecommender
from destinations.local.store import LocalStore
from schemas.interaction import EventBatch, Interaction
from schemas.limits import PUT_EVENTS_MAX_EVENTS


class LocalEventTracker:
    """Implements ``ports.EventTracker``. Idempotent per ``event_id``: a redelivered event adds nothing.

    Storing the events and updating the model happen in one transaction, so a crash in between cannot
    leave events the model never learned from (a redelivery would find them "not new" and skip them).
    Inside ``batch()`` that transaction is the whole batch, and calls only collect their events: at the
    batch's end the new ones are found, stored and learned at once (a few statements for the whole batch
    instead of a savepoint, a lookup and an insert per call), so a call cannot fail half-way and what
    fails at the end fails the whole batch, which its caller reports for retry.
    """

    def __init__(self, store: LocalStore, recommender: LocalRecommender | None = None) -> None:
        self._store = store
        self._recommender = recommender
        self._pending: list[Interaction] | None = None
        self._batch_thread: int | None = None

    def put_events(self, batch: EventBatch) -> None:
        count = len(batch.interactions)
        # Same contract as the Personalize adapter: grouping never builds such a batch, so one is a bug in
        # the caller (ValueError, raised before anything is stored), not bad input to dead-letter.
        if not 1 <= count <= PUT_EVENTS_MAX_EVENTS:
            raise ValueError(f"PutEvents takes 1..{PUT_EVENTS_MAX_EVENTS} events, got {count}")
        if self._pending is not None and self._batch_thread == threading.get_ident():
            self._pending.extend(batch.interactions)  # stored and learned when the batch ends
            return
        self._store_and_learn(batch.interactions)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction around many ``put_events`` calls (this thread's): their events are stored and
        learned when it ends, in call order, each event once. Other threads' calls are not deferred."""
        with self._store.transaction():
            self._pending, self._batch_thread = [], threading.get_ident()
            try:
                yield
                pending = self._pending
            finally:
                self._pending, self._batch_thread = None, None
            if pending:
                self._store_and_learn(pending)

    def _store_and_learn(self, interactions: Sequence[Interaction]) -> None:
        with self._store.transaction():
            new = self._store.add_interactions(interactions)
            if new and self._recommender is not None:
                self._recommender.learn(new)
