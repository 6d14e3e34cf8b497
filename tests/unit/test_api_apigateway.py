"""API Gateway proxy events in and out, and the Lambda handler's cold start."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers import api as lambda_handler
from consumers.api import handler
from consumers.web.apigateway import request_from_event
from schemas.errors import ConfigError

KEY = "gateway-test-key-0123456789"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("PUE_API_KEY_SECRET_ARN", "SEGMENT_WRITE_KEY", "PINPOINT_APPLICATION_ID", "PUE_EVENT_MAP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUE_BACKEND", "local")
    monkeypatch.setenv("PUE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PUE_API_KEY", KEY)
    lambda_handler.reset()
    yield
    lambda_handler.reset()


def http_api(
    path: str, *, stage: str = "$default", body: str | None = None, b64: bool = False
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"x-api-key": KEY, "content-type": "application/json"},
        "requestContext": {"http": {"method": "POST" if body else "GET"}, "stage": stage},
        "body": body,
        "isBase64Encoded": b64,
    }


def test_a_named_stage_prefix_is_not_part_of_the_route(env: None) -> None:
    reply = handler(http_api("/prod/health", stage="prod"), None)
    assert reply["statusCode"] == 200 and json.loads(reply["body"]) == {"status": "ok"}


def test_a_body_that_is_not_base64_is_a_400(env: None) -> None:
    reply = handler(http_api("/events", body="%%%not base64%%%", b64=True), None)
    assert reply["statusCode"] == 400 and "base64" in json.loads(reply["body"])["error"]["message"]


def test_an_event_that_is_not_from_api_gateway_is_a_json_400(env: None) -> None:
    reply = handler({"Records": []}, None)
    assert reply["statusCode"] == 400 and reply["headers"]["Cache-Control"] == "no-store"
    assert json.loads(reply["body"])["error"]["code"] == "bad_request"


def test_rest_event_with_single_value_parameters_only() -> None:
    request = request_from_event(
        {
            "httpMethod": "GET",
            "path": "/recommendations",
            "headers": {"X-Api-Key": KEY, "Accept": "application/json"},
            "multiValueHeaders": {"X-Api-Key": [KEY], "Accept": ["application/json", "text/plain"]},
            "queryStringParameters": {"userId": "u 1"},
            "multiValueQueryStringParameters": None,
            "body": None,
        }
    )
    assert request is not None
    assert request.query == (("userId", "u 1"),)
    assert request.header("x-api-key") == KEY and request.header("accept") == "application/json, text/plain"


def test_http_api_body_is_decoded() -> None:
    payload = b'{"userId": "u"}'
    request = request_from_event(http_api("/events", body=base64.b64encode(payload).decode(), b64=True))
    assert request is not None and request.body == payload and request.method == "POST"


def test_cold_start_builds_once_and_reuses(env: None) -> None:
    handler(http_api("/health"), None)
    first = lambda_handler._api
    handler(http_api("/health"), None)
    assert first is not None and lambda_handler._api is first


def test_cold_start_without_a_key_fails_naming_it(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUE_API_KEY")
    monkeypatch.setenv("PUE_CORS_ORIGINS", "not an origin")
    with pytest.raises(ConfigError) as caught:
        handler(http_api("/health"), None)
    assert len(caught.value.problems) == 2 and "PUE_API_KEY" in caught.value.problems[0]


def _rest(path: str, **fields: Any) -> dict[str, Any]:
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"X-Api-Key": KEY},
        **fields,
    }


@pytest.mark.parametrize(
    "event",
    [
        {**http_api("/health"), "headers": [["x-api-key", KEY]]},
        {**http_api("/health"), "requestContext": {"http": "GET /health", "stage": "$default"}},
        {**http_api("/health"), "requestContext": {"http": ["GET"]}},
        _rest("/health", headers=["X-Api-Key", KEY]),
        _rest("/health", headers=None, multiValueHeaders="X-Api-Key"),
        _rest("/health", multiValueQueryStringParameters={"limit": 5}),
        {"version": "2.0", "requestContext": {"http": {"method": ["GET"]}}, "rawPath": {"a": 1}},
        {"httpMethod": None, "path": None, "headers": {"x": {"nested": True}}},
    ],
    ids=[
        "v2-headers-list",
        "v2-http-string",
        "v2-http-list",
        "rest-headers-list",
        "rest-multi-headers-string",
        "rest-multi-query-not-lists",
        "v2-odd-types",
        "rest-nulls",
    ],
)
def test_events_api_gateway_never_sends_are_answered_never_raised(env: None, event: dict[str, Any]) -> None:
    reply = handler(event, None)
    assert reply["statusCode"] in (400, 404, 405)  # an answer, whichever the odd shape leads to
    assert "error" in json.loads(reply["body"])


def test_headers_as_a_list_or_http_as_a_string_are_a_400(env: None) -> None:
    for event in (
        {**http_api("/health"), "headers": [["x-api-key", KEY]]},
        {**http_api("/health"), "requestContext": {"http": "GET /health"}},
        _rest("/health", headers=["X-Api-Key", KEY]),
    ):
        reply = handler(event, None)
        assert reply["statusCode"] == 400, event
        assert json.loads(reply["body"])["error"]["code"] == "bad_request"


def test_a_rest_path_is_percent_decoded_once_and_an_http_api_path_is_not_decoded_again() -> None:
    rest = request_from_event(_rest("/users/a%2Fb%2520c"))
    http = request_from_event(http_api("/users/a/b%20c"))  # what HTTP APIs deliver for a%2Fb%2520c
    assert rest is not None and http is not None
    assert rest.path == http.path == "/users/a/b%20c"
