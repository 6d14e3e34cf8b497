"""The benchmark workload: a Lambda Kinesis event of N records of Segment messages from U users.

Activity is Zipf-skewed (user k sends ∝ 1/k^s), as on a real site where a few users browse a lot; users switch
session (a new anonymousId) every ``session_length`` of their messages; a share of users never identify
(anonymous sessions: tracked, but there is nobody to recommend for). The mix: mostly product views, clicks
and adds, Order Completed with 1–5 products, reviews, and messages pue filters (page, identify, an unmapped
event); a small share of poison (bytes that are not JSON). Every ``kpl_every``-th Kinesis record is a KPL
aggregate of ``kpl_size`` messages. Deterministic for a given spec.

``records`` counts Kinesis records as Lambda does (a KPL aggregate is one record).
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.runners.lambda_events import lambda_events

_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# (kind, cumulative probability): a Segment stream as the Kinesis destination forwards it.
MIX = (
    ("Product Viewed", 0.50),
    ("Product Clicked", 0.60),
    ("Product Added", 0.70),
    ("Order Completed", 0.75),
    ("Product Reviewed", 0.77),
    ("page", 0.87),
    ("identify", 0.93),
    ("Signed Up", 0.97),  # not in the default event map: filtered
    ("Cart Viewed", 1.00),  # not in the default event map: filtered
)
TRACKED_EVENTS = frozenset(
    {"Product Viewed", "Product Clicked", "Product Added", "Order Completed", "Product Reviewed"}
)


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    records: int
    users: int = 0  # 0: records // 4
    zipf_s: float = 0.9
    session_length: int = 12
    anonymous_share: float = 0.05
    poison_share: float = 0.002
    kpl_every: int = 10
    kpl_size: int = 4
    catalog_size: int = 5000
    seed: int = 1
    user_prefix: str = "user"

    @property
    def user_count(self) -> int:
        return self.users or max(1, self.records // 4)

    @property
    def messages_needed(self) -> int:
        """Enough messages to fill ``records`` Kinesis records, KPL aggregates included."""
        extra = (self.records // self.kpl_every + 1) * (self.kpl_size - 1) if self.kpl_every else 0
        return self.records + extra


class _Generator:
    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)  # noqa: S311 - a workload, not security
        weights = [1.0 / (rank + 1) ** spec.zipf_s for rank in range(spec.user_count)]
        self.cumulative = list(itertools.accumulate(weights))
        # Which user is which rank is shuffled, so user ids say nothing about activity.
        self.ids = [f"{spec.user_prefix}-{index:06d}" for index in range(spec.user_count)]
        self.rng.shuffle(self.ids)
        self.anonymous = {user for user in self.ids if self.rng.random() < spec.anonymous_share}
        self.sent: dict[str, int] = {}
        self.clock = _START

    def payload(self) -> bytes:
        if self.rng.random() < self.spec.poison_share:
            return b'{"type": "track", "event": "Product Viewed", "properties": {"product_id": '  # cut short
        return json.dumps(self.message(), separators=(",", ":")).encode()

    def message(self) -> dict[str, Any]:
        user = self.rng.choices(self.ids, cum_weights=self.cumulative)[0]
        count = self.sent.get(user, 0)
        self.sent[user] = count + 1
        self.clock += timedelta(milliseconds=self.rng.randint(1, 40))
        session = count // self.spec.session_length
        message: dict[str, Any] = {
            "messageId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "anonymousId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user}/{session}")),
            "timestamp": self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if user not in self.anonymous:
            message["userId"] = user
        kind = self._kind()
        if kind == "page":
            message.update(type="page", name="Catalog", properties={"path": "/catalog"})
        elif kind == "identify":
            message.update(type="identify", traits={"plan": self.rng.choice(("free", "plus"))})
        else:
            message.update(type="track", event=kind, properties=self._properties(kind))
        return message

    def _kind(self) -> str:
        draw = self.rng.random()
        return next(kind for kind, edge in MIX if draw < edge)

    def _product(self) -> str:
        return f"P{self.rng.randrange(self.spec.catalog_size):05d}"

    def _properties(self, kind: str) -> dict[str, Any]:
        if kind == "Order Completed":
            count = self.rng.randint(1, 5)
            products = [
                {"product_id": self._product(), "price": self.rng.randint(5, 250), "quantity": 1}
                for _ in range(count)
            ]
            return {"order_id": f"O{self.rng.getrandbits(40):x}", "currency": "USD", "products": products}
        properties: dict[str, Any] = {"product_id": self._product()}
        if kind == "Product Reviewed":
            properties["rating"] = self.rng.randint(1, 5)
        elif kind == "Product Added":
            properties.update(price=self.rng.randint(5, 250), quantity=1)
        return properties


def payloads(spec: WorkloadSpec) -> list[bytes]:
    generator = _Generator(spec)
    return [generator.payload() for _ in range(spec.messages_needed)]


def lambda_event(spec: WorkloadSpec) -> dict[str, Any]:
    """``{"Records": [...]}`` with exactly ``spec.records`` Kinesis records."""
    events = lambda_events(
        payloads(spec),
        batch_size=spec.records,
        aggregate_every=spec.kpl_every,
        aggregate_size=spec.kpl_size,
    )
    event = next(events)
    if len(event["Records"]) != spec.records:
        raise AssertionError(f"built {len(event['Records'])} records, wanted {spec.records}")
    return event


def event_bytes(event: dict[str, Any]) -> int:
    """The size of the event as Lambda would deliver it (its JSON)."""
    return len(json.dumps(event, separators=(",", ":")).encode())
