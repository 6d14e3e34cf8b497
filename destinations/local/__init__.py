"""The embedded local backend: every port implemented over one SQLite file in the state dir.

It is the default backend (``make run``), not a test double: the pipeline, the CLI and the HTTP API run
on it with no cloud account, and the contract suites hold it to the same behaviour as the cloud adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from destinations.local.dead_letters import LocalDeadLetterSink
from destinations.local.purchases import LocalPurchaseHistory
from destinations.local.recommender import DEFAULT_PURCHASE_EVENT_TYPES, LocalRecommender
from destinations.local.sinks import LocalPersonasSink, LocalPinpointSink
from destinations.local.stats import LocalPipelineStats
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker

__all__ = [
    "LocalBackend",
    "LocalDeadLetterSink",
    "LocalEventTracker",
    "LocalPersonasSink",
    "LocalPinpointSink",
    "LocalPipelineStats",
    "LocalPurchaseHistory",
    "LocalRecommender",
    "LocalStore",
]


@dataclass
class LocalBackend:
    """Every local adapter, wired over one store. ``close()`` when done."""

    store: LocalStore
    tracker: LocalEventTracker
    recommender: LocalRecommender
    personas: LocalPersonasSink
    pinpoint: LocalPinpointSink
    dead_letters: LocalDeadLetterSink
    purchases: LocalPurchaseHistory
    stats: LocalPipelineStats

    @classmethod
    def open(
        cls, state_dir: Path, purchase_event_types: frozenset[str] = DEFAULT_PURCHASE_EVENT_TYPES
    ) -> LocalBackend:
        store = LocalStore.in_state_dir(state_dir)
        recommender = LocalRecommender(store, purchase_event_types)
        return cls(
            store=store,
            tracker=LocalEventTracker(store, recommender),
            recommender=recommender,
            personas=LocalPersonasSink(store),
            pinpoint=LocalPinpointSink(store),
            dead_letters=LocalDeadLetterSink(store),
            purchases=LocalPurchaseHistory(store, purchase_event_types),
            stats=LocalPipelineStats(store),
        )

    def close(self) -> None:
        self.store.close()
