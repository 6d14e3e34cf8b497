"""The API itself: ``ApiRequest`` -> ``ApiResponse``, shared by the Lambda handler and ``pue serve``.

Order of checks, for every request: route (404), method (405 with ``Allow``; ``OPTIONS`` is the CORS
preflight; ``HEAD`` is answered wherever ``GET`` is, with GET's status and headers and no body), API key
(401/403, every route but ``/health`` and the web page), the key's rate limits (429 with ``Retry-After``),
then the route's own validation (400) and work.
Every answer gets ``Cache-Control: no-store`` and the CORS headers, and every request one log line:
method, route template (never the raw path or query: they carry user ids), status, latency.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from consumers.web.auth import ApiKeyAuth
from consumers.web.contract import (
    ApiError,
    ApiRequest,
    ApiResponse,
    bad_request,
    error_response,
    json_response,
)
from consumers.web.cors import Cors
from consumers.web.event_body import parse_body, segment_message
from consumers.web.insights import LocalInsights
from consumers.web.page import StaticPage
from consumers.web.rate_limit import RateLimits
from consumers.web.service import RecommendationService
from consumers.web.upstream import api_error
from consumers.web.user_routes import UserRoutes
from consumers.web.validation import events_include_metadata, events_num_results, recommendation_query
from schemas.errors import PueError
from schemas.recommendation import Recommendation

log = logging.getLogger("pue.api")

UNMATCHED_ROUTE: Final = "(unmatched)"
_COMMON_HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

Handler = Callable[[ApiRequest], ApiResponse]


@dataclass(frozen=True, slots=True)
class Route:
    template: str
    methods: tuple[str, ...]
    handler: Handler
    auth: bool = True

    @property
    def allow(self) -> str:
        head = ("HEAD",) if "GET" in self.methods else ()
        return ", ".join((*self.methods, *head, "OPTIONS"))


class Api:
    """The routes over a ``RecommendationService``. ``close()`` releases what the service holds."""

    def __init__(
        self,
        service: RecommendationService,
        auth: ApiKeyAuth,
        cors: Cors,
        openapi_document: bytes,
        *,
        on_close: Callable[[], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        insights: LocalInsights | None = None,
        page: StaticPage | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        """``insights``: the local backend's users and counts (None: those routes answer 501); ``limits``:
        per-key rate limits, checked after the key (None: none)."""
        self._limits = limits
        self.service = service
        self._auth = auth
        self._cors = cors
        self._now = now
        self._on_close = on_close
        self._health = json_response(200, {"status": "ok"})
        self._openapi = ApiResponse(200, openapi_document, {"Content-Type": "application/json"})
        users = UserRoutes(insights)
        page = page or StaticPage()
        self.routes = {
            route.template: route
            for route in (
                Route("/health", ("GET",), lambda _: self._health, auth=False),
                Route("/openapi.json", ("GET",), lambda _: self._openapi),
                Route("/recommendations", ("GET",), self._get_recommendations),
                Route("/events", ("POST",), self._post_event),
                Route("/users", ("GET",), users.users),
                Route("/users/{userId}", ("GET",), users.user),
                Route("/stats", ("GET",), users.stats),
                Route("/", ("GET",), page.index, auth=False),
                Route("/static/{file}", ("GET",), page.asset, auth=False),
            )
        }
        # "/users/{userId}" -> "/users/": a template's last segment is a parameter, the rest must match.
        # The parameter is all of the path after the prefix: a user id may hold "/" (sent as %2F, which
        # API Gateway's HTTP API decodes before the Lambda sees it; see user_routes.path_parameter).
        self._templated = {
            template.rsplit("/", 1)[0] + "/": route
            for template, route in self.routes.items()
            if template.endswith("}")
        }

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Never raises: an unexpected error is logged with its trace and answered 500 without one."""
        started = time.perf_counter()
        route = self._route(request.path)
        try:
            response = self._dispatch(route, request)
        except ApiError as error:
            response = error_response(error)
        except PueError as error:
            response = error_response(api_error(error))
        except Exception:
            log.exception("unhandled error", extra={"fields": {"route": _template(route)}})
            response = error_response(ApiError(500, "internal_error", "internal error"))
        headers = {**response.headers, **_COMMON_HEADERS}
        if request.method != "OPTIONS":  # a preflight answer carries its own CORS headers
            self._cors.add_headers(request, headers)
        if log.isEnabledFor(logging.INFO):
            _log_request(request, route, response.status, started)
        return ApiResponse(response.status, response.body, headers)

    def _route(self, path: str) -> Route | None:
        route = self.routes.get(path)
        if route is None:
            second = path.find("/", 1)
            prefix = path[: second + 1] if second > 0 else ""
            route = self._templated.get(prefix) if prefix and len(path) > len(prefix) else None
        return route

    def _dispatch(self, route: Route | None, request: ApiRequest) -> ApiResponse:
        if route is None:
            raise ApiError(404, "not_found", "no such route: see /openapi.json")
        if request.method == "OPTIONS":
            return self._cors.preflight(request, route.allow)
        if request.method == "HEAD" and "GET" in route.methods:
            got = self._dispatch(route, dataclasses.replace(request, method="GET"))
            return ApiResponse(got.status, b"", {**got.headers, "Content-Length": str(len(got.body))})
        if request.method not in route.methods:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{route.template} takes {' or '.join(route.methods)}",
                headers={"Allow": route.allow},
            )
        if route.auth:
            self._auth.check(request)
            if self._limits is not None:
                self._limits.check(request.header("x-api-key") or "", event=route.template == "/events")
        if request.problem is not None:
            raise bad_request(request.problem)
        return route.handler(request)

    def _get_recommendations(self, request: ApiRequest) -> ApiResponse:
        query = recommendation_query(request.query)
        recommendation = self.service.recommend(query)
        return json_response(200, self._document(recommendation, query.item_id, query.include_metadata))

    def _post_event(self, request: ApiRequest) -> ApiResponse:
        num_results = events_num_results(request.query)
        include_metadata = events_include_metadata(request.query)
        if include_metadata:
            self.service.require_catalog()  # refused before anything is tracked
        document = parse_body(request.body, request.header("content-type"))
        message = segment_message(document, self._now)
        recommendation = self.service.track(message, num_results)
        return json_response(200, self._document(recommendation, None, include_metadata))

    def _document(self, rec: Recommendation, item_id: str | None, include_metadata: bool) -> dict[str, Any]:
        fields = self.service.item_fields(rec.item_ids) if include_metadata else {}
        items: list[dict[str, Any]] = []
        for item in rec.items:
            entry: dict[str, Any] = {"itemId": item.item_id, "score": item.score}
            if item.item_id in fields:
                entry["metadata"] = fields[item.item_id]
            items.append(entry)
        subject = {"itemId": item_id} if item_id is not None else {"userId": rec.user_id}
        return {**subject, "recommendationId": rec.recommendation_id, "items": items}


def _template(route: Route | None) -> str:
    return route.template if route is not None else UNMATCHED_ROUTE


def _log_request(request: ApiRequest, route: Route | None, status: int, started: float) -> None:
    fields = {
        "method": request.method[:16],
        "route": _template(route),
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    log.info("request", extra={"fields": fields})
