"""Amazon API Gateway proxy events <-> ``ApiRequest`` / ``ApiResponse``.

Two shapes reach a Lambda behind API Gateway:

- HTTP API, payload format 2.0 (``"version": "2.0"``): ``requestContext.http.method``, ``rawPath``,
  ``rawQueryString`` (parsed here, so a repeated parameter stays visible), lower-case ``headers``.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
- REST API proxy integration, and HTTP API payload 1.0: ``httpMethod``, ``path``,
  ``multiValueQueryStringParameters`` (already decoded), ``multiValueHeaders``.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html

Both answer with ``{"statusCode", "headers", "body", "isBase64Encoded"}``.

The path: HTTP APIs (both payload formats) hand it over percent-decoded, REST APIs still encoded (so a
user id sent as ``a%2Fb`` is ``/users/a/b`` in the first and ``/users/a%2Fb`` in the second); it is decoded
here for REST events (no ``version`` field), once, so the routes see the same path from every entry point.

An event API Gateway would never send (headers as a list, ``requestContext.http`` a string...) is answered
400, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any, Final, TypedDict
from urllib.parse import unquote

from consumers.web.contract import (
    ApiRequest,
    ApiResponse,
    bad_request,
    error_response,
    lower_headers,
    parse_query_string,
)
from consumers.web.routes import Api

log = logging.getLogger("pue.api")

HTTP_API_VERSION: Final = "2.0"
_DEFAULT_STAGE: Final = "$default"
_NO_STORE: Final = {"Cache-Control": "no-store"}


class ProxyResponse(TypedDict):
    statusCode: int
    headers: dict[str, str]
    body: str
    isBase64Encoded: bool


def _body(event: Mapping[str, Any]) -> tuple[bytes, str | None]:
    raw = event.get("body")
    if raw is None:
        return b"", None
    if not isinstance(raw, str):
        return b"", "the request body is not text"
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True), None
        except (binascii.Error, ValueError):
            return b"", "the request body is not valid base64"
    return raw.encode("utf-8", "surrogatepass"), None


def _headers(value: Any) -> tuple[dict[str, str], str | None]:
    if value is None or isinstance(value, Mapping):
        return lower_headers(value), None
    return {}, "the event's headers are not an object"


def _http_api_request(event: Mapping[str, Any]) -> ApiRequest | None:
    context = event["requestContext"]
    http = context.get("http") or {}
    if not isinstance(http, Mapping):
        return None
    path = str(event.get("rawPath") or http.get("path") or "/")
    stage = context.get("stage")
    # A named stage (not $default) prefixes the path: /prod/recommendations.
    if isinstance(stage, str) and stage != _DEFAULT_STAGE and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    body, problem = _body(event)
    headers, header_problem = _headers(event.get("headers"))
    return ApiRequest(
        method=str(http.get("method") or "").upper(),
        path=path,
        query=parse_query_string(str(event.get("rawQueryString") or "")),
        headers=headers,
        body=body,
        problem=header_problem or problem,
    )


def _rest_query(event: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, Mapping):
        return tuple((str(k), str(v)) for k, values in multi.items() for v in (values or ()))
    single = event.get("queryStringParameters")
    if isinstance(single, Mapping):
        return tuple((str(k), str(v)) for k, v in single.items() if v is not None)
    return ()


def _rest_request(event: Mapping[str, Any]) -> ApiRequest:
    body, problem = _body(event)
    headers, header_problem = _headers(event.get("multiValueHeaders") or event.get("headers"))
    path = str(event.get("path") or "/")
    if "version" not in event:  # REST: still percent-encoded (HTTP API payload 1.0 says "1.0", decoded)
        path = unquote(path, encoding="utf-8", errors="surrogateescape")
    return ApiRequest(
        method=str(event.get("httpMethod") or "").upper(),
        path=path,
        query=_rest_query(event),
        headers=headers,
        body=body,
        problem=header_problem or problem,
    )


def request_from_event(event: Mapping[str, Any]) -> ApiRequest | None:
    """The request an API Gateway proxy event carries; None when it is not one."""
    if not isinstance(event, Mapping):
        return None
    if event.get("version") == HTTP_API_VERSION and isinstance(event.get("requestContext"), Mapping):
        return _http_api_request(event)
    if "httpMethod" in event:
        return _rest_request(event)
    return None


def proxy_response(response: ApiResponse) -> ProxyResponse:
    # API Gateway sets Content-Length itself (a HEAD answer's would not match its empty body).
    headers = {name: value for name, value in response.headers.items() if name != "Content-Length"}
    return {
        "statusCode": response.status,
        "headers": headers,
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def handle_event(event: Mapping[str, Any], api: Api) -> ProxyResponse:
    """Answer one API Gateway event. Never raises (``Api.handle`` doesn't)."""
    try:
        request = request_from_event(event)
    except Exception:  # a shape no check above foresaw: the caller gets a 400, the log the trace
        log.exception("unreadable API Gateway event; answering 400")
        request = None
    if request is None:
        log.error("not an API Gateway proxy event (payload 1.0 or 2.0); answering 400")
        response = error_response(bad_request("not an API Gateway proxy event"))
        return proxy_response(ApiResponse(response.status, response.body, {**response.headers, **_NO_STORE}))
    return proxy_response(api.handle(request))
