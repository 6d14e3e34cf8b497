"""The API's small findings of issue 14, on every entry point (the Lambda handler with HTTP API 2.0 and
REST 1.0 events, and a real ``pue serve``): HEAD, a repeated ``x-api-key``, user ids holding "/", chunked
bodies."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from consumers import api as lambda_handler
from consumers.api import handler
from consumers.bootstrap.api import build_api
from consumers.config.api_settings import load_settings
from tests.functional.api_harness import (
    API_KEY,
    TRANSPORTS,
    Client,
    check_contract,
    client_for,
    running_server,
    seed,
    with_key,
)

JSON = {"content-type": "application/json"}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    seed(state)
    for name in ("PUE_API_KEY_SECRET_ARN", "SEGMENT_WRITE_KEY", "PINPOINT_APPLICATION_ID", "PUE_EVENT_MAP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUE_BACKEND", "local")
    monkeypatch.setenv("PUE_STATE_DIR", str(state))
    monkeypatch.setenv("PUE_API_KEY", API_KEY)
    return state


@pytest.fixture(params=TRANSPORTS)
def client(request: pytest.FixtureRequest, state: Path) -> Iterator[Client]:
    with client_for(request.param) as client:
        yield client


@pytest.fixture
def serve(state: Path) -> Iterator[tuple[str, int]]:
    settings, api_settings = load_settings(require_key=True)
    api = build_api(settings, api_settings)
    try:
        with running_server(api) as server:
            yield server.host, server.port
    finally:
        api.close()


def test_head_health_is_200_without_a_body(client: Client) -> None:
    get = client.request("GET", "/health")
    head = client.request("HEAD", "/health")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    if client.name == "pue-serve":  # over HTTP, HEAD says how long GET's body is
        assert head.headers["content-length"] == str(len(get.body))


def test_head_follows_get_on_keyed_routes_and_allow_lists_it(client: Client) -> None:
    assert client.request("HEAD", "/stats").status == 401
    assert client.request("HEAD", "/stats", headers=with_key()).status == 200
    assert client.request("HEAD", "/events", headers=with_key()).status == 405  # no GET there
    assert client.request("PUT", "/health").headers["allow"] == "GET, HEAD, OPTIONS"


def test_a_user_id_holding_a_slash_is_reachable_percent_encoded(client: Client) -> None:
    user = "shop/42 a%b"
    event = {"userId": user, "itemId": "A1", "eventType": "Product Viewed"}
    posted = client.request("POST", "/events", headers=with_key(JSON), body=json.dumps(event).encode())
    assert posted.status == 200, posted.body
    path = "/users/" + quote(user, safe="")  # /users/shop%2F42%20a%25b
    reply = client.request("GET", path, headers=with_key())
    check_contract(reply, "GET", "/users/{userId}")
    assert reply.status == 200, reply.body
    assert reply.json()["userId"] == user
    assert reply.json()["interactions"][0]["itemId"] == "A1"


def test_duplicate_api_key_headers_are_refused_with_400_on_pue_serve(serve: tuple[str, int]) -> None:
    for keys in ((API_KEY, API_KEY), ("wrong-key-but-long-enough", API_KEY), (API_KEY, "wrong")):
        conn = http.client.HTTPConnection(*serve, timeout=10)
        conn.putrequest("GET", "/stats")
        for key in keys:
            conn.putheader("x-api-key", key)
        conn.endheaders()
        response = conn.getresponse()
        document = json.loads(response.read())
        conn.close()
        assert response.status == 400, keys
        assert document["error"] == {
            "code": "bad_request",
            "message": "send one x-api-key header, not several",
        }


def test_duplicate_api_key_headers_are_refused_with_400_on_lambda(state: Path) -> None:
    lambda_handler.reset()
    try:
        # HTTP API joins a repeated header with commas; REST lists every value in multiValueHeaders.
        http_api = {
            "version": "2.0",
            "rawPath": "/stats",
            "rawQueryString": "",
            "headers": {"x-api-key": f"{API_KEY},{API_KEY}"},
            "requestContext": {"http": {"method": "GET"}, "stage": "$default"},
        }
        rest = {
            "resource": "/{proxy+}",
            "path": "/stats",
            "httpMethod": "GET",
            "headers": {"X-Api-Key": API_KEY},
            "multiValueHeaders": {"X-Api-Key": [API_KEY, API_KEY]},
        }
        for event in (http_api, rest):
            reply = handler(event, None)
            assert reply["statusCode"] == 400
            assert json.loads(reply["body"])["error"]["message"] == "send one x-api-key header, not several"
    finally:
        lambda_handler.reset()


def test_a_chunked_event_body_is_read(serve: tuple[str, int]) -> None:
    body = json.dumps({"userId": "chunky", "itemId": "B1", "eventType": "Product Viewed"}).encode()
    conn = http.client.HTTPConnection(*serve, timeout=10)
    pieces = iter([body[:10], body[10:25], body[25:]])
    conn.request("POST", "/events", body=pieces, headers=with_key(JSON), encode_chunked=True)
    response = conn.getresponse()
    document = json.loads(response.read())
    conn.close()
    assert response.status == 200, document
    assert document["userId"] == "chunky"


def test_a_chunked_body_past_the_limit_is_413_json(serve: tuple[str, int]) -> None:
    head = (
        f"POST /events HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    answer = b""
    with socket.create_connection(serve, timeout=10) as sock:
        try:
            sock.sendall(head + chunk * 8 + b"0\r\n\r\n")  # 128 KB, past the server's 64 KB
        except OSError:
            pass  # the server answered and closed before reading all of it: what is expected
        try:
            while data := sock.recv(65536):
                answer += data
        except OSError:
            pass
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split(b" ")[1] == b"413"
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "payload_too_large"
