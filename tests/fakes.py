"""Scriptable in-memory port implementations for pipeline tests: they record calls and fail on demand."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from schemas.dead_letter import DeadLetter
from schemas.delivery import DeliveryReport
from schemas.errors import PueError
from schemas.interaction import EventBatch
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem

Fault = Callable[[object], PueError | None]


def never(_: object) -> PueError | None:
    return None


@dataclass
class FakeTracker:
    fault: Fault = never
    batches: list[EventBatch] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put_events(self, batch: EventBatch) -> None:
        error = self.fault(batch)
        if error is not None:
            raise error
        with self.lock:
            self.batches.append(batch)

    @property
    def event_ids(self) -> list[str]:
        return [i.event_id for b in self.batches for i in b.interactions]


@dataclass
class FakeRecommender:
    items: tuple[str, ...] = ("i1", "i2", "i3")
    fault: Fault = never
    requests: list[RecommendationRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        error = self.fault(request)
        if error is not None:
            raise error
        with self.lock:
            self.requests.append(request)
            n = len(self.requests)
        assert request.user_id is not None
        items = tuple(ScoredItem(i, 1.0 / (k + 1)) for k, i in enumerate(self.items[: request.num_results]))
        return Recommendation(request.user_id, f"rid-{n}", items)


@dataclass
class FakeSink:
    name: str = "fake"
    fail_users: dict[str, PueError] = field(default_factory=dict)  # by Recommendation.key
    published: list[Recommendation] = field(default_factory=list)
    takes_anonymous: bool = False

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        self.published.extend(r for r in recommendations if r.key not in self.fail_users)
        return DeliveryReport(
            failed={u: e for u, e in self.fail_users.items() if any(r.key == u for r in recommendations)}
        )


@dataclass
class FakeDeadLetters:
    error: PueError | None = None
    letters: list[DeadLetter] = field(default_factory=list)

    def send(self, letters: Sequence[DeadLetter]) -> DeliveryReport:
        if self.error is not None:
            raise self.error
        self.letters.extend(letters)
        return DeliveryReport()


@dataclass
class FakePurchases:
    purchased: dict[str, frozenset[str]] = field(default_factory=dict)

    def purchased_items(self, user_id: str) -> frozenset[str]:
        return self.purchased.get(user_id, frozenset())
