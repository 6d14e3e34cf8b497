"""The framework-free HTTP shapes every entry point translates to and from (API Gateway events, WSGI).

``ApiRequest`` is what the routes see: header names lower-cased, the query as decoded (name, value) pairs
in order (repeats kept, so a repeated parameter can be refused), the body as bytes. ``ApiResponse`` is what
they give back; its body is always JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl

JSON_CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-case
    body: bytes = b""
    # Set by an entry point that could not read the request (a body that is not valid base64...): a 400.
    problem: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""


class ApiError(Exception):
    """A request the API answers with an error status; ``message`` is shown to the caller as is."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def json_response(status: int, document: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return ApiResponse(status, body, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})})


def error_response(error: ApiError) -> ApiResponse:
    return json_response(
        error.status, {"error": {"code": error.code, "message": error.message}}, error.headers
    )


def parse_query_string(raw: str) -> tuple[tuple[str, str], ...]:
    """Decoded (name, value) pairs, repeats kept. Invalid UTF-8 escapes decode to lone surrogates, which
    validation refuses as "not valid Unicode" (so a bad query is a 400, never an exception here)."""
    return tuple(parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="surrogateescape"))


def lower_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Header names lower-cased; several values of one name (a list) joined with ", " as HTTP allows."""
    result: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if value is None:
            continue
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        key = str(name).lower()
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result
