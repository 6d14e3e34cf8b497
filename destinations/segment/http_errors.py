"""HTTP statuses and ``requests`` exceptions as pue's error tree (shared by the Segment adapters).

Who must act (design.md, "Errors"): 429, 408 and 5xx need only time (retryable); 401 and 403 mean the write
key or the Profile API token is wrong, revoked or lacks access, which only the operator can fix
(``ConfigError``: the records are retried, loudly, never dead-lettered); 400, 413 and 422 refuse the request's
content (``PoisonRecord``). Segment's HTTP API answers 400 for a payload over its size limits or bad JSON
(https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#errors); the Profile API
answers 401/403 for a bad token and 404 for an unknown profile (https://segment.com/docs/unify/profile-api/).
Messages never carry response bodies or URLs with user ids in them: those are user data.
"""

from __future__ import annotations

from typing import Final

import requests

from schemas.errors import ConfigError, PermanentError, PoisonRecord, PueError, RetryableError

RETRYABLE_STATUSES: Final = frozenset({408, 429})
OPERATOR_STATUSES: Final = frozenset({401, 403})
CONTENT_STATUSES: Final = frozenset({400, 413, 422})

# Raised while sending or reading: the same request may well succeed later.
_TRANSIENT: Final = (
    requests.exceptions.ConnectionError,  # includes ConnectTimeout, SSLError, ProxyError
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def status_error(status: int, *, service: str, code: str | None = None) -> PueError:
    """The error a non-2xx HTTP answer stands for."""
    code = code or str(status)
    message = f"HTTP {status}"
    if is_retryable_status(status):
        return RetryableError(message, service=service, code=code)
    if status in OPERATOR_STATUSES:
        return ConfigError.at_run_time(message, service=service, code=code)
    if status in CONTENT_STATUSES:
        return PoisonRecord(message, service=service, code=code)
    return PermanentError(message, service=service, code=code)


def transport_error(error: requests.RequestException, *, service: str) -> PueError:
    """The error a ``requests`` exception stands for: transport trouble is retryable, a bad URL is the
    operator's to fix (SEGMENT_API_HOST, SEGMENT_PROFILE_API_HOST)."""
    name = type(error).__name__
    if isinstance(error, _TRANSIENT):
        return RetryableError("request did not complete", service=service, code=name)
    return ConfigError.at_run_time("request cannot be sent", service=service, code=name)
