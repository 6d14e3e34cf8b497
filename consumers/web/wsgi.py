"""WSGI (PEP 3333) <-> ``ApiRequest`` / ``ApiResponse``: the API as an app any WSGI server can run.

``pue serve`` runs it on cheroot; gunicorn or uWSGI can run ``WsgiApp(api)`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from consumers.web.contract import ApiRequest, parse_query_string
from consumers.web.routes import Api
from schemas.limits import SEGMENT_MESSAGE_MAX_BYTES

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
# Read one byte past the limit, so the API sees the body is too large without reading all of it.
_BODY_READ_LIMIT: Final = SEGMENT_MESSAGE_MAX_BYTES + 1
_UNPREFIXED_HEADERS: Final = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def _wsgi_text(value: str) -> str:
    """PEP 3333 hands over bytes as latin-1 text; undo that, then read them as UTF-8."""
    return value.encode("latin-1", "replace").decode("utf-8", "surrogateescape")


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
        elif key in _UNPREFIXED_HEADERS and value:
            headers[_UNPREFIXED_HEADERS[key]] = str(value)
    return headers


def _body(environ: Mapping[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        # No length: read to the end, at most the limit + 1 (the server decodes the chunks and refuses a
        # body past its own limit with 413).
        chunked: bytes = stream.read(_BODY_READ_LIMIT)
        return chunked
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if length <= 0:
        return b""
    data: bytes = stream.read(min(length, _BODY_READ_LIMIT))
    return data


def _path(environ: Mapping[str, Any]) -> str:
    """The decoded path. From the raw request target where the server gives it (cheroot's REQUEST_URI,
    gunicorn's RAW_URI): PATH_INFO leaves %2F encoded on cheroot, so "a%2Fb" and a literal "a%252Fb"
    would look alike; decoded once here, both are what the client meant, as on API Gateway."""
    raw = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    if raw.startswith("/"):
        target = raw.split("?", 1)[0].split("#", 1)[0]
        return unquote_to_bytes(target.encode("latin-1", "replace")).decode("utf-8", "surrogateescape")
    return _wsgi_text(str(environ.get("PATH_INFO") or "/"))


def request_from_environ(environ: Mapping[str, Any]) -> ApiRequest:
    return ApiRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
        path=_path(environ),
        query=parse_query_string(str(environ.get("QUERY_STRING") or "")),
        headers=_headers(environ),
        body=_body(environ),
    )


class WsgiApp:
    """The WSGI application over an ``Api``."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self.api.handle(request_from_environ(environ))
        headers = list(response.headers.items())
        if "Content-Length" not in response.headers:  # a HEAD answer carries the GET body's length
            headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {response.reason}", headers)
        return [response.body]
