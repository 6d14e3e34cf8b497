"""Amazon API Gateway proxy events <-> ``ApiRequest`` / ``ApiResponse``.

Two shapes reach a Lambda behind API Gateway:

- HTTP API, payload format 2.0 (``"version": "2.0"``): ``requestContext.http.method``, ``rawPath``,
  ``rawQueryString`` (parsed here, so a repeated parameter stays visible), lower-case ``headers``.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
- REST API proxy integration, and HTTP API payload 1.0: ``httpMethod``, ``path``,
  ``multiValueQueryStringParameters`` (already decoded), ``multiValueHeaders``.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html

Both answer with ``{"statusCode", "headers", "body", "isBase64Encoded"}``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any, Final, TypedDict

from consumers.api.contract import (
    ApiRequest,
    ApiResponse,
    bad_request,
    error_response,
    lower_headers,
    parse_query_string,
)
from consumers.api.routes import Api

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


def _http_api_request(event: Mapping[str, Any]) -> ApiRequest:
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    path = str(event.get("rawPath") or http.get("path") or "/")
    stage = context.get("stage")
    # A named stage (not $default) prefixes the path: /prod/recommendations.
    if isinstance(stage, str) and stage != _DEFAULT_STAGE and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    body, problem = _body(event)
    return ApiRequest(
        method=str(http.get("method") or "").upper(),
        path=path,
        query=parse_query_string(str(event.get("rawQueryString") or "")),
        headers=lower_headers(event.get("headers")),
        body=body,
        problem=problem,
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
    return ApiRequest(
        method=str(event.get("httpMethod") or "").upper(),
        path=str(event.get("path") or "/"),
        query=_rest_query(event),
        headers=lower_headers(event.get("multiValueHeaders") or event.get("headers")),
        body=body,
        problem=problem,
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
    return {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def handle_event(event: Mapping[str, Any], api: Api) -> ProxyResponse:
    """Answer one API Gateway event. Never raises (``Api.handle`` doesn't)."""
    request = request_from_event(event)
    if request is None:
        log.error("not an API Gateway proxy event (payload 1.0 or 2.0); answering 400")
        response = error_response(bad_request("not an API Gateway proxy event"))
        return proxy_response(ApiResponse(response.status, response.body, {**response.headers, **_NO_STORE}))
    return proxy_response(api.handle(request))
