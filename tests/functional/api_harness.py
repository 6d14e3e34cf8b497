"""One way to call the recommendations API, three ways to reach it: the Lambda handler with API Gateway
HTTP API (payload 2.0) events, with REST API proxy (1.0) events, and a real ``pue serve`` server (cheroot
on 127.0.0.1, ephemeral port). Plus the OpenAPI check every test applies to every response.

Every transport is configured the same way, from the environment (``PUE_API_KEY``, ``PUE_STATE_DIR``...),
as Lambda and ``pue serve`` are.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import jsonschema

from consumers import api as lambda_handler
from consumers.bootstrap.api import build_api
from consumers.config.api_settings import load_settings
from consumers.web.http_server import ApiServer
from consumers.web.openapi import load_document
from consumers.web.routes import Api
from consumers.web.wsgi import WsgiApp
from destinations.local import LocalBackend
from schemas.interaction import EventBatch, Interaction

API_KEY = "test-key-3f9a0c1d2e4b5a6978"
OTHER_KEY = "rotated-key-77c1e0b2a9d84f60"
TRANSPORTS = ("lambda-http-api-v2", "lambda-rest-v1", "pue-serve")
CLUSTER_A = ("A1", "A2", "A3", "A4")
CLUSTER_B = ("B1", "B2", "B3", "B4", "B5", "B6")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # names lower-case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return str(self.json()["error"]["code"])


class Client(Protocol):
    name: str

    def request(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply: ...


def with_key(headers: Mapping[str, str] | None = None, key: str = API_KEY) -> dict[str, str]:
    return {"x-api-key": key, **(headers or {})}


class LambdaClient:
    """Calls ``consumers.api.handler`` (cold start from the environment) with API Gateway events."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.name = "lambda-http-api-v2" if version == "2.0" else "lambda-rest-v1"

    def request(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply:
        from consumers.api import handler

        event = self._event(method, path, query, dict(headers or {}), body)
        result = handler(event, None)
        assert result["isBase64Encoded"] is False
        return Reply(
            result["statusCode"],
            {k.lower(): v for k, v in result["headers"].items()},
            result["body"].encode("utf-8"),
        )

    def _event(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        encoded = base64.b64encode(body).decode() if body else None
        if self.version == "2.0":
            return {
                "version": "2.0",
                "routeKey": "$default",
                # HTTP APIs hand the path over percent-decoded (%2F arrives as "/"); REST keeps it encoded.
                "rawPath": unquote(path),
                "rawQueryString": query,
                "headers": {k.lower(): v for k, v in headers.items()},
                "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
                "body": encoded,
                "isBase64Encoded": bool(body),
            }
        pairs = parse_qsl(query, keep_blank_values=True)
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)
        # REST keeps header names as the client sent them: mixed case on purpose.
        titled = {"-".join(part.title() for part in k.split("-")): v for k, v in headers.items()}
        return {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": titled or None,
            "multiValueHeaders": {k: [v] for k, v in titled.items()} or None,
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None,
            "requestContext": {"stage": "prod", "path": f"/prod{path}"},
            "body": body.decode("utf-8") if body else None,
            "isBase64Encoded": False,
        }


class HttpClient:
    """Real HTTP to a running server on 127.0.0.1."""

    name = "pue-serve"

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def request(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(
                method, f"{path}?{query}" if query else path, body=body or None, headers=dict(headers or {})
            )
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()


@contextmanager
def running_server(api: Api, **timeouts: float) -> Iterator[ApiServer]:
    """``pue serve``'s server (cheroot) in a background thread, on an ephemeral port of 127.0.0.1;
    ``timeouts``: ``ApiServer``'s ``deadline_seconds`` / ``idle_seconds``."""
    server = ApiServer(WsgiApp(api), host="127.0.0.1", port=0, threads=4, **timeouts)
    thread = threading.Thread(target=server.run, name="pue-serve-test", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server did not stop"


@contextmanager
def client_for(transport: str) -> Iterator[Client]:
    """A client of the API configured by the current environment; everything closed afterwards."""
    if transport == "pue-serve":
        settings, api_settings = load_settings(require_key=True)
        api = build_api(settings, api_settings)
        try:
            with running_server(api) as server:
                yield HttpClient(server.host, server.port)
        finally:
            api.close()
        return
    lambda_handler.reset()
    try:
        yield LambdaClient("2.0" if transport == "lambda-http-api-v2" else "1.0")
    finally:
        lambda_handler.reset()


def exchange(host: str, port: int, data: bytes, *, wait: float = 5.0) -> tuple[bytes, bool]:
    """Send ``data`` on a fresh connection: everything the server answers until it closes the connection
    or goes quiet for ``wait`` seconds, and whether it closed it."""
    with socket.create_connection((host, port), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
        return received, True


def seed(state: Path) -> None:
    """Six users browse cluster A together, more browse cluster B (so B is what is popular)."""
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    backend = LocalBackend.open(state)
    try:
        users = [(f"a-{n}", CLUSTER_A) for n in range(6)] + [(f"b-{n}", CLUSTER_B) for n in range(12)]
        for user, items in users:
            interactions = tuple(
                Interaction(
                    f"{user}-{item}", "Product Viewed", user, start + timedelta(minutes=k), user, item
                )
                for k, item in enumerate(items)
            )
            backend.tracker.put_events(EventBatch(user, user, interactions))
        backend.store.upsert_items({"A2": {"CATEGORY": "shoes", "NAME": "Trail Shoe 2"}})
    finally:
        backend.close()


# the contract: every response is checked against schemas/openapi.json


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = _nullable_as_type(load_document())
    return document


def _nullable_as_type(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` in JSON Schema terms: ``"nullable": true`` adds "null" to ``type``."""
    if isinstance(node, dict):
        out = {k: _nullable_as_type(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_nullable_as_type(v) for v in node]
    return node


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def check_contract(reply: Reply, method: str, path: str) -> None:
    """The reply is what the OpenAPI document promises for this operation and status."""
    document = _document()
    assert reply.headers.get("cache-control") == "no-store"
    operation = document["paths"].get(path, {}).get(method.lower())
    if reply.status == 204 and method == "OPTIONS":
        assert reply.body == b""
        return
    assert reply.headers.get("content-type", "").startswith("application/json")
    if operation is None:  # 404 and 405 answer for any path or method: the error shape
        assert reply.status in (404, 405), reply.status
        pointer = _pointer("components", "schemas", "Error")
    else:
        declared = operation["responses"].get(str(reply.status))
        assert declared is not None, f"{method} {path} answered {reply.status}, not in the document"
        if "$ref" in declared:
            name = declared["$ref"].rsplit("/", 1)[1]
            declared = document["components"]["responses"][name]
            base: tuple[str, ...] = ("components", "responses", name)
        else:
            base = ("paths", path, method.lower(), "responses", str(reply.status))
        pointer = _pointer(*base, "content", "application/json", "schema")
        if "Retry-After" in declared.get("headers", {}):
            assert reply.headers.get("retry-after", "").isdigit()
    validator = jsonschema.Draft4Validator({**document, "$ref": pointer})
    errors = [e.message for e in validator.iter_errors(reply.json())]
    assert errors == [], f"{method} {path} {reply.status}: {errors}"
