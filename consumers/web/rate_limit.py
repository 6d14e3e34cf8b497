"""Per-key rate limits: a token bucket for each API key, 429 with ``Retry-After`` past it (issue 23).

Two buckets per key: every keyed request takes a token from the first (``PUE_RATE_LIMIT``), and
``POST /events`` also one from the second (``PUE_EVENTS_RATE_LIMIT``), since each tracked event grows the
store for good (and, in AWS, costs PutEvents calls) while a read costs a moment. With at most
``MAX_PRODUCTS_PER_EVENT`` interactions per event, the events limit bounds how fast one key can grow the
store: at the default 20 events/s, at most 2,000 interactions/s (one product each: 20/s, a few KB/s).

Buckets are kept only for keys that passed the key check (the limiter runs after it), so their number is
the number of configured keys. In Lambda each container keeps its own buckets: the function's limit is
per container, and API Gateway's stage throttling (deploy/template.yaml) bounds the whole API.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Final

from consumers.config.api_settings import Rate
from consumers.web.contract import ApiError

_RETRY_AFTER_MIN_SECONDS: Final = 1  # Retry-After is whole seconds (RFC 9110 §10.2.3)


class KeyRateLimiter:
    """Thread-safe token buckets by key."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def wait_for(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if there was one, else the seconds until there will be."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.rate.burst, now))
            tokens = min(self.rate.burst, tokens + (now - then) * self.rate.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate.per_second


class RateLimits:
    """The API's two limits (None: that one is off). ``check`` raises the 429."""

    def __init__(self, requests: Rate | None, events: Rate | None) -> None:
        self._requests = KeyRateLimiter(requests) if requests else None
        self._events = KeyRateLimiter(events) if events else None

    def check(self, key: str, *, event: bool) -> None:
        for limiter, what in ((self._requests, "requests"), (self._events if event else None, "events")):
            if limiter is None:
                continue
            wait = limiter.wait_for(key)
            if wait > 0:
                seconds = max(_RETRY_AFTER_MIN_SECONDS, math.ceil(wait))
                raise ApiError(
                    429,
                    "too_many_requests",
                    f"more than {limiter.rate.per_second:g} {what} per second for this key "
                    f"(bursts of {limiter.rate.burst:g}); retry after {seconds} s",
                    headers={"Retry-After": str(seconds)},
                )
