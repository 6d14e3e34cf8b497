"""CORS for the origins in ``PUE_CORS_ORIGINS``: browsers on those sites may call the API.

The API key travels in a custom header, so browsers send a preflight ``OPTIONS`` first; it is answered
without a key (browsers never put one on a preflight). No cookies are used, so credentials are never
allowed. Nothing is added for an origin that is not configured: the browser then blocks the response.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from consumers.web.auth import API_KEY_HEADER
from consumers.web.contract import ApiRequest, ApiResponse

PREFLIGHT_MAX_AGE_SECONDS: Final = 600  # browsers cap this anyway (Chromium: 2 hours, Firefox: 24 hours)
_ALLOWED_HEADERS: Final = f"content-type, {API_KEY_HEADER}"
_EXPOSED_HEADERS: Final = "retry-after"


class Cors:
    def __init__(self, origins: Collection[str]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(o.lower() for o in origins if o != "*")
        self.enabled = bool(self._any or self._origins)

    def _allowed_origin(self, request: ApiRequest) -> str | None:
        origin = request.header("origin")
        if origin is None or not self.enabled:
            return None
        if self._any:
            return "*"
        return origin if origin.lower() in self._origins else None

    def add_headers(self, request: ApiRequest, headers: dict[str, str]) -> None:
        """Headers of an actual (non-preflight) response."""
        if not self.enabled:
            return
        headers["Vary"] = "Origin"  # the answer depends on the Origin header
        origin = self._allowed_origin(request)
        if origin is not None:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = _EXPOSED_HEADERS

    def preflight(self, request: ApiRequest, allow: str) -> ApiResponse:
        headers = {"Allow": allow}
        origin = self._allowed_origin(request)
        if origin is not None:
            headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": allow,
                    "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                    "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
                }
            )
        if self.enabled:
            headers["Vary"] = "Origin"
        return ApiResponse(204, b"", headers)
