"""API key check: the ``x-api-key`` header against every configured key, in constant time.

Every key is compared, even after a match, so the time taken says nothing about which key matched or how
much of a wrong key was right. Missing header: 401; wrong key: 403; the header sent more than once: 400.

Several ``x-api-key`` headers arrive as one comma-joined value everywhere: API Gateway joins repeated
headers with commas, and ``pue serve`` joins this one (consumers/web/server_errors.py) where cheroot kept
the last. No key holds a comma (``PUE_API_KEY`` is a comma-separated list), so a comma means "several".
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Final

from consumers.web.contract import ApiError, ApiRequest

API_KEY_HEADER: Final = "x-api-key"


def _bytes(text: str) -> bytes:
    # surrogatepass: an odd header value still compares (and fails) instead of raising.
    return text.encode("utf-8", "surrogatepass")


class ApiKeyAuth:
    """Holds the accepted keys (several during a rotation)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(_bytes(k) for k in keys)
        if not self._keys:
            raise ValueError("at least one API key is required")

    def check(self, request: ApiRequest) -> None:
        """Return when the request carries a valid key; ``ApiError`` 401/403 otherwise."""
        presented = request.header(API_KEY_HEADER)
        if presented is None or not presented.strip():
            raise ApiError(401, "unauthorized", f"missing {API_KEY_HEADER} header")
        if "," in presented:
            raise ApiError(400, "bad_request", f"send one {API_KEY_HEADER} header, not several")
        candidate = _bytes(presented.strip())
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise ApiError(403, "forbidden", f"the {API_KEY_HEADER} is not valid")
