"""The fewest cloud calls a batch allows, and the lower bound on its wall time, computed from the event alone.

Written from the services' limits and the issue's formulas, independently of pue's own grouping code, so
figure 1 checks pue against the specification rather than against itself:

    PutEvents            Σ over (user, session) of ⌈events / 10⌉      one userId and sessionId per call
    GetRecommendations   distinct users
    Profile reads        distinct users
    Segment /v1/batch    ⌈identify messages / 100⌉ within 500 KB
    GetUserEndpoints     distinct users
    UpdateEndpointsBatch ⌈endpoints / 100⌉
    SendMessageBatch     ⌈dead letters / 10⌉ (≤ 256 KiB each)

Lower bound on wall time with ``pool`` concurrent calls of ``latency`` seconds each: no schedule beats the
total work spread over the pool, nor the longest chain of calls that depend on each other (one user's
PutEvents in order, then GetRecommendations, then the identify — or GetUserEndpoints then
UpdateEndpointsBatch, whichever is longer; the Profile read can overlap the PutEvents):

    bound = max(Σ fewest calls × latency ÷ pool,  max over users of (PutEvents_u + 3) × latency)
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.benchmarks.workload import TRACKED_EVENTS
from tests.support.cloud_fake_faults import CallType

PUT_EVENTS_PER_CALL = 10
IDENTIFIES_PER_REQUEST = 100
ENDPOINTS_PER_CALL = 100
DEAD_LETTERS_PER_CALL = 10
# A user's critical path after its PutEvents: GetRecommendations, GetUserEndpoints, UpdateEndpointsBatch.
CALLS_AFTER_TRACKING = 3


@dataclass(frozen=True, slots=True)
class BatchShape:
    """What the batch asks of the services."""

    user_records: int  # messages after KPL deaggregation
    tracked_messages: int
    interactions: int
    dead_letters: int
    fewest: dict[CallType, int]
    put_events_per_key: dict[str, int]  # user (or anonymous session) -> PutEvents calls, in order

    @property
    def total_calls(self) -> int:
        return sum(self.fewest.values())

    def lower_bound(self, latency: float, pool: int) -> dict[str, float]:
        work = self.total_calls * latency / pool
        longest = max(
            (
                calls + (CALLS_AFTER_TRACKING if key.startswith("user:") else 0)
                for key, calls in self.put_events_per_key.items()
            ),
            default=0,
        )
        chain = longest * latency
        return {
            "seconds": max(work, chain),
            "work_seconds": work,
            "chain_seconds": chain,
            "longest_chain_calls": longest,
        }


def user_messages(event: Mapping[str, Any]) -> Iterator[bytes | None]:
    """Each user record's bytes, KPL aggregates unpacked by aws-kinesis-agg (None: an empty aggregate)."""
    from aws_kinesis_agg.deaggregator import deaggregate_records

    for record in deaggregate_records(list(event["Records"])):
        yield base64.b64decode(record["kinesis"]["data"])


def _interactions(message: Mapping[str, Any]) -> int:
    if message.get("event") == "Order Completed":
        products = message.get("properties", {}).get("products", [])
        return max(1, sum(1 for product in products if product.get("product_id")))
    return 1


def shape(event: Mapping[str, Any], endpoints_per_user: Callable[[str], int]) -> BatchShape:
    sessions: dict[tuple[str, str], int] = {}  # (user or anonymous key, session) -> interactions
    order: dict[str, None] = {}
    records = tracked = interactions = dead = 0
    for raw in user_messages(event):
        records += 1
        try:
            message = json.loads(raw or b"")
        except ValueError:
            dead += 1
            continue
        if message.get("type") != "track" or message.get("event") not in TRACKED_EVENTS:
            continue
        tracked += 1
        count = _interactions(message)
        interactions += count
        user = message.get("userId")
        session = message.get("anonymousId") or user
        key = f"user:{user}" if user else f"session:{session}"
        order.setdefault(key, None)
        sessions[(key, session)] = sessions.get((key, session), 0) + count
    per_key: dict[str, int] = dict.fromkeys(order, 0)
    for (key, _), count in sessions.items():
        per_key[key] += math.ceil(count / PUT_EVENTS_PER_CALL)
    users = [key.removeprefix("user:") for key in order if key.startswith("user:")]
    endpoints = sum(endpoints_per_user(user) for user in users)
    fewest = {
        CallType.PUT_EVENTS: sum(per_key.values()),
        CallType.GET_RECOMMENDATIONS: len(users),
        CallType.PROFILE_TRAITS: len(users),
        # 100 identifies of ~1.2 KB each are far below 500 KB: the count limit binds, not the size.
        CallType.SEGMENT_BATCH: math.ceil(len(users) / IDENTIFIES_PER_REQUEST),
        CallType.GET_USER_ENDPOINTS: len(users),
        CallType.UPDATE_ENDPOINTS_BATCH: math.ceil(endpoints / ENDPOINTS_PER_CALL),
        CallType.SEND_MESSAGE_BATCH: math.ceil(dead / DEAD_LETTERS_PER_CALL),
    }
    return BatchShape(records, tracked, interactions, dead, fewest, per_key)
