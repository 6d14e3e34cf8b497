"""Call types of the loopback cloud fake and its fault plan (see ``tests.support.cloud_fake``).

Faults are decided per *attempt of a request*, not per arrival: the fate of the n-th attempt of a given
request (its call type plus a key derived from its content) is a draw from
``random.Random(f"{seed}|{call}|{key}|{n}")``.
Concurrent clients reach the fake in a different order on every run; keyed draws make a run's faults the same
whatever the thread scheduling, so a failing reliability test replays exactly with its seed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum


class CallType(StrEnum):
    """One cloud API operation pue calls; the value is what reports and ``/_fake/stats`` show."""

    PUT_EVENTS = "PutEvents"  # personalize-events
    GET_RECOMMENDATIONS = "GetRecommendations"  # personalize-runtime
    PROFILE_TRAITS = "ProfileTraits"  # Segment Profile API, GET .../profiles/{id}/traits
    SEGMENT_BATCH = "SegmentBatch"  # Segment tracking API, POST /v1/batch
    GET_USER_ENDPOINTS = "GetUserEndpoints"  # pinpoint
    UPDATE_ENDPOINTS_BATCH = "UpdateEndpointsBatch"  # pinpoint
    SEND_MESSAGE_BATCH = "SendMessageBatch"  # sqs (JSON protocol)


class Fault(StrEnum):
    THROTTLE = (
        "throttle"  # the service's throttling error: Personalize 400 ThrottlingException, Segment 429...
    )
    SERVER_ERROR = "server_error"  # a 5xx with the service's error shape
    SLOW = "slow"  # applied, but answered only after ``slow_seconds`` (past the client's read timeout)
    RESET = "reset"  # the connection is closed without an answer; nothing is applied
    DENIED = "denied"  # a permission fault: AWS AccessDenied (403), Segment 401; nothing is applied


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probabilities (0..1, summing to at most 1) that one attempt of a call meets each fault."""

    throttle: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0
    reset: float = 0.0
    denied: float = 0.0

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(not 0.0 <= value <= 1.0 for value in values):
            raise ValueError(f"fault probabilities must be within 0..1, got {self}")
        if sum(values) > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities must sum to at most 1, got {self}")

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def pick(self, draw: float) -> Fault | None:
        """The fault a uniform draw in [0, 1) lands on, in the order throttle, server_error, slow, reset,
        denied."""
        edge = 0.0
        for fault in Fault:
            edge += float(getattr(self, fault.value))
            if draw < edge:
                return fault
        return None


class FaultPlan:
    """Decides, for each attempt, whether and how it fails. Off (no faults) unless rates are given.

    Thread-safe: the attempt counters are shared by the fake's handler threads.
    """

    def __init__(self, rates: Mapping[CallType, FaultRates] | None = None, *, seed: int = 0) -> None:
        self._rates = dict(rates or {})
        self._seed = seed
        self._attempts: dict[tuple[CallType, str], int] = {}
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        return self._seed

    def rates(self, call: CallType) -> FaultRates:
        return self._rates.get(call, FaultRates())

    def decide(self, call: CallType, key: str) -> Fault | None:
        """The fate of this attempt of the request identified by (``call``, ``key``)."""
        with self._lock:
            attempt = self._attempts.get((call, key), 0) + 1
            self._attempts[(call, key)] = attempt
        rates = self.rates(call)
        if not rates.any:
            return None
        # Seeding from a str hashes it with SHA-512: the same across processes, whatever PYTHONHASHSEED is.
        draw = random.Random(f"{self._seed}|{call.value}|{key}|{attempt}").random()  # noqa: S311 - not crypto
        return rates.pick(draw)

    def attempts(self, call: CallType, key: str) -> int:
        with self._lock:
            return self._attempts.get((call, key), 0)
