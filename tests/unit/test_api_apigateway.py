"""API Gateway proxy events in and out, and the Lambda handler's cold start."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.api import handler, lambda_handler
from consumers.api.apigateway import request_from_event
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
