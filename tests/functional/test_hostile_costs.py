"""Memory and cost a stranger could run up (issue 23, item 5), on every entry point: per-key rate limits
(429 with Retry-After), a cap on products per event, the recommendation cache bounded in bytes.
Each test failed on the code before.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.web.cache import VersionedCache
from consumers.web.insights import RECENT_INTERACTIONS
from consumers.web.service import CacheKey, cached_size
from destinations.local import LocalBackend, LocalStore
from schemas.interaction import EventBatch, Interaction
from schemas.limits import MAX_PRODUCTS_PER_EVENT
from schemas.recommendation import Recommendation, ScoredItem
from tests.functional.api_harness import API_KEY, OTHER_KEY, TRANSPORTS, Client, client_for, with_key
from tests.functional.test_hostile_server_api import state  # noqa: F401  (the fixture)

JSON = {"content-type": "application/json"}


@pytest.fixture
def two_keys(state: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv("PUE_API_KEY", f"{API_KEY},{OTHER_KEY}")  # limits are per key
    return state


def _client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with client_for(request.param) as client:
        yield client


@pytest.fixture(params=TRANSPORTS)
def limited(
    request: pytest.FixtureRequest,
    two_keys: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Client]:
    # Slow refills (one token a minute) so that no token comes back while the test runs.
    monkeypatch.setenv("PUE_RATE_LIMIT", "0.016/5")
    monkeypatch.setenv("PUE_EVENTS_RATE_LIMIT", "0.016/2")
    yield from _client(request)


@pytest.fixture(params=TRANSPORTS)
def client(request: pytest.FixtureRequest, two_keys: Path) -> Iterator[Client]:
    yield from _client(request)


def _event(user: str, n: int, products: int = 0) -> bytes:
    message: dict[str, object] = {
        "type": "track",
        "event": "Order Completed" if products else "Product Viewed",
        "userId": user,
        "messageId": f"{user}-{n}",
        "properties": {"products": [{"product_id": f"P{k}"} for k in range(products)]}
        if products
        else {"product_id": "A1"},
    }
    return json.dumps(message).encode()


def test_a_key_past_its_rate_gets_429_with_retry_after_and_other_keys_do_not(limited: Client) -> None:
    statuses = [limited.request("GET", "/stats", headers=with_key()).status for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2  # a burst of 5, then nothing for a minute
    refused = limited.request("GET", "/stats", headers=with_key())
    assert refused.status == 429 and refused.error_code == "too_many_requests"
    assert int(refused.headers["retry-after"]) >= 1
    assert limited.request("GET", "/stats", headers=with_key(key=OTHER_KEY)).status == 200  # per key
    assert limited.request("GET", "/health").status == 200  # no key, no limit


def test_events_have_their_own_tighter_limit(limited: Client) -> None:
    posted = [
        limited.request("POST", "/events", headers=with_key(JSON), body=_event("rate-user", n)).status
        for n in range(3)
    ]
    assert posted == [200, 200, 429]
    assert limited.request("GET", "/stats", headers=with_key()).status == 200  # reads are still allowed


def test_an_event_with_more_products_than_the_cap_is_refused_and_tracks_nothing(client: Client) -> None:
    before = client.request("GET", "/stats", headers=with_key()).json()
    body = _event("cart-user", 1, products=MAX_PRODUCTS_PER_EVENT + 1)
    reply = client.request("POST", "/events", headers=with_key(JSON), body=body)
    assert reply.status == 422
    assert f"more than {MAX_PRODUCTS_PER_EVENT} products" in reply.json()["error"]["message"]
    after = client.request("GET", "/stats", headers=with_key()).json()
    assert after["interactions"] == before["interactions"]
    accepted = client.request(
        "POST",
        "/events",
        headers=with_key(JSON),
        body=_event("cart-user", 2, products=MAX_PRODUCTS_PER_EVENT),
    )
    assert accepted.status == 200


def test_the_recommendation_cache_stays_within_its_byte_budget_whatever_the_lists_hold() -> None:
    budget = 4 * 1024 * 1024
    cache: VersionedCache[CacheKey, Recommendation] = VersionedCache(
        lambda: 0, max_entries=10_000, max_bytes=budget, size_of=cached_size
    )

    def heavy(n: int) -> Recommendation:
        # 500 items with 256-character ids: the list, a fresh user each time.
        return Recommendation(
            f"user-{n}",
            f"RID-{n}",
            tuple(ScoredItem(f"{n:08d}-{k:04d}".ljust(256, "x"), 0.5) for k in range(500)),
        )

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for n in range(200):  # 200 lists of about 190 KB: 38 MB unbounded
            cache.get_or_compute((f"user-{n}", None, 500, None, ()), lambda n=n: heavy(n))  # type: ignore[misc]
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert cache.bytes <= budget
    assert 0 < len(cache) < 200
    assert held <= 1.25 * budget  # the estimate is close to what CPython really holds


def test_a_heavy_users_profile_reads_only_the_recent_interactions(
    state: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = "heavy-user"
    start = datetime(2026, 11, 3, tzinfo=UTC)
    backend = LocalBackend.open(state)
    try:
        for batch in range(300):  # 3,000 interactions
            interactions = tuple(
                Interaction(
                    f"h-{batch}-{k}",
                    "Product Viewed",
                    user,
                    start + timedelta(seconds=10 * batch + k),
                    user,
                    f"I{k}",
                )
                for k in range(10)
            )
            backend.tracker.put_events(EventBatch(user, user, interactions))
    finally:
        backend.close()
    limits: list[int | None] = []
    real = LocalStore.interactions_for

    def recording(
        self: LocalStore, user_id: str, limit: int | None = None, **kwargs: bool
    ) -> list[Interaction]:
        limits.append(limit)  # the raw call: how many rows the route asked the store for
        return real(self, user_id, limit, **kwargs)

    monkeypatch.setattr(LocalStore, "interactions_for", recording)
    with client_for("pue-serve") as client:
        reply = client.request("GET", f"/users/{user}", headers=with_key())
    assert reply.status == 200
    profile = reply.json()
    assert profile["interactionCount"] == 3000
    assert len(profile["interactions"]) == RECENT_INTERACTIONS
    assert profile["interactions"][0]["eventId"] == "h-299-9"  # newest first
    assert limits == [RECENT_INTERACTIONS]
