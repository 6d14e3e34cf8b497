"""The API core over scripted ports: error mapping, method and route handling, logs, the cache's exactness."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from consumers.web.auth import ApiKeyAuth
from consumers.web.cache import VersionedCache
from consumers.web.contract import ApiRequest, ApiResponse
from consumers.web.cors import Cors
from consumers.web.openapi import document_bytes
from consumers.web.routes import Api
from consumers.web.service import Defaults, RecommendationService
from schemas.errors import PermanentError, PueError, RetryableError
from tests.fakes import FakeDeadLetters, FakePurchases, FakeRecommender, FakeSink, FakeTracker

KEY = "unit-test-key-0123456789"
NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


class Harness:
    def __init__(self, *, cache: bool = False, origins: tuple[str, ...] = ()) -> None:
        self.tracker = FakeTracker()
        self.recommender = FakeRecommender(items=("i1", "i2", "i3", "i4"))
        self.sink = FakeSink()
        self.purchases = FakePurchases({"buyer": frozenset({"i1"})})
        self.version = 0
        self.cache: VersionedCache[Any, Any] | None = (
            VersionedCache(lambda: self.version, max_entries=100, max_bytes=1 << 20, size_of=lambda k, v: 1)
            if cache
            else None
        )
        self.pipeline = Pipeline(
            tracker=self.tracker,
            recommender=self.recommender,
            sinks=[self.sink],
            dead_letters=FakeDeadLetters(),
            purchases=self.purchases,
            event_map=EventMap.default(),
            refresh=RefreshOptions(num_results=25),
            max_workers=2,
        )
        service = RecommendationService(
            pipeline=self.pipeline,
            related=None,
            catalog=None,
            defaults=Defaults(num_results=2),
            cache=self.cache,
        )
        self.api = Api(service, ApiKeyAuth([KEY]), Cors(origins), document_bytes(), now=lambda: NOW)

    def call(
        self,
        method: str,
        path: str,
        query: tuple[tuple[str, str], ...] = (),
        body: Any = None,
        **headers: str,
    ) -> tuple[ApiResponse, Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        base = {"x-api-key": KEY, "content-type": "application/json"}
        response = self.api.handle(ApiRequest(method, path, query, {**base, **headers}, raw))
        return response, json.loads(response.body) if response.body else None


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.pipeline.close()


def review(user: str = "u1", item: str = "p1") -> dict[str, Any]:
    return {"userId": user, "itemId": item, "eventType": "Product Viewed"}


def test_user_list_uses_the_default_size_and_drops_purchased_items(harness: Harness) -> None:
    response, body = harness.call("GET", "/recommendations", (("userId", "buyer"),))
    assert response.status == 200
    # The default 2, plus one for the one purchase: still 2 items once i1 (bought) is removed.
    assert harness.recommender.requests[-1].num_results == 3
    assert [i["itemId"] for i in body["items"]] == ["i2", "i3"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            RetryableError("throttled", service="personalize-runtime", code="ThrottlingException"),
            503,
            "throttled",
        ),
        (RetryableError("HTTP 429", service="segment", code="429"), 503, "throttled"),
        (RetryableError("database is locked", service="local-store"), 503, "throttled"),
        (
            RetryableError("HTTP 500", service="personalize-runtime", code="InternalServerError"),
            502,
            "upstream_failed",
        ),
        (
            PermanentError("denied", service="personalize-runtime", code="AccessDeniedException"),
            502,
            "upstream_failed",
        ),
    ],
)
def test_upstream_failures_map_to_503_or_502(
    harness: Harness, error: PueError, status: int, code: str
) -> None:
    harness.recommender.fault = lambda _: error
    response, body = harness.call("GET", "/recommendations", (("userId", "u1"),))
    assert (response.status, body["error"]["code"]) == (status, code)
    assert ("Retry-After" in response.headers) == (status == 503)
    assert "denied" not in body["error"]["message"]  # a service's own words stay in the logs


def test_post_event_converts_the_review_and_refreshes_the_sinks(harness: Harness) -> None:
    response, body = harness.call("POST", "/events", (("numResults", "3"),), review("u9", "p7"))
    assert response.status == 200 and body["userId"] == "u9" and len(body["items"]) == 3
    (interaction,) = harness.tracker.batches[0].interactions
    assert (interaction.user_id, interaction.item_id, interaction.event_type) == (
        "u9",
        "p7",
        "Product Viewed",
    )
    assert interaction.sent_at == NOW  # no timestamp: the time of receipt
    assert [r.user_id for r in harness.sink.published] == ["u9"]


def test_post_event_tracker_throttled_is_503_and_poison_is_422(harness: Harness) -> None:
    harness.tracker.fault = lambda _: RetryableError(
        "slow down", service="personalize-events", code="ThrottlingException"
    )
    throttled, _ = harness.call("POST", "/events", body=review())
    poison, body = harness.call("POST", "/events", body={"type": "track", "event": "Product Viewed"})
    assert throttled.status == 503 and throttled.headers["Retry-After"] == "1"
    assert (poison.status, body["error"]["message"]) == (422, "no anonymousId or userId")


def test_a_bug_is_a_500_without_a_trace_and_logged_with_one(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def bug(_: object) -> PueError | None:
        raise ZeroDivisionError("boom")

    harness.recommender.fault = bug
    with caplog.at_level(logging.INFO, logger="pue.api"):
        response, body = harness.call("GET", "/recommendations", (("userId", "u1"),))
    assert (response.status, body) == (
        500,
        {"error": {"code": "internal_error", "message": "internal error"}},
    )
    assert b"Traceback" not in response.body and b"boom" not in response.body
    assert any(r.exc_info for r in caplog.records)


def test_one_log_line_per_request_without_key_or_user(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pue.api"):
        harness.call("GET", "/recommendations", (("userId", "jane@example.com"),))
        harness.call("GET", "/nowhere")
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    fields = [r.fields for r in lines]  # type: ignore[attr-defined]
    assert [(f["route"], f["status"]) for f in fields] == [("/recommendations", 200), ("(unmatched)", 404)]
    assert all(f["latency_ms"] >= 0 for f in fields)
    text = " ".join(json.dumps(f) for f in fields)
    assert KEY not in text and "jane" not in text and "nowhere" not in text


def test_every_answer_is_no_store_even_errors(harness: Harness) -> None:
    for method, path in (("GET", "/health"), ("GET", "/nowhere"), ("PUT", "/events"), ("OPTIONS", "/events")):
        response, _ = harness.call(method, path)
        assert response.headers["Cache-Control"] == "no-store", (method, path)


def test_cors_any_origin() -> None:
    h = Harness(origins=("*",))
    response, _ = h.call("GET", "/health", origin="https://anywhere.example")
    h.pipeline.close()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Vary"] == "Origin"


def test_related_items_without_a_campaign_is_a_clear_400(harness: Harness) -> None:
    response, body = harness.call("GET", "/recommendations", (("itemId", "p1"),))
    assert response.status == 400 and "PERSONALIZE_RELATED_ITEMS_CAMPAIGN_ARN" in body["error"]["message"]


def test_include_metadata_without_a_catalog_is_a_400(harness: Harness) -> None:
    response, body = harness.call("GET", "/recommendations", (("userId", "u1"), ("includeMetadata", "true")))
    assert response.status == 400 and "not supported" in body["error"]["message"]


def test_cache_serves_repeats_and_forgets_after_an_event_or_a_foreign_write() -> None:
    h = Harness(cache=True)
    try:
        first = h.call("GET", "/recommendations", (("userId", "u1"),))[1]
        again = h.call("GET", "/recommendations", (("userId", "u1"),))[1]
        assert again == first and len(h.recommender.requests) == 1
        h.call("POST", "/events", body=review("u2"))  # this process wrote: everything is stale
        after_post = h.call("GET", "/recommendations", (("userId", "u1"),))[1]
        h.version += 1  # another process wrote to the store
        after_foreign = h.call("GET", "/recommendations", (("userId", "u1"),))[1]
    finally:
        h.pipeline.close()
    ids = [first["recommendationId"], after_post["recommendationId"], after_foreign["recommendationId"]]
    assert len(set(ids)) == 3  # recomputed each time the data changed
