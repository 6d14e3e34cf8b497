"""HTTP statuses and ``requests`` exceptions as pue's error tree (shared by the Segment adapters).

429, 408 and 5xx are retryable; any other non-2xx status is permanent. Messages never carry response bodies
or URLs with user ids in them: those are user data.
"""

from __future__ import annotations

from typing import Final

import requests

from schemas.errors import PermanentError, PueError, RetryableError

RETRYABLE_STATUSES: Final = frozenset({408, 429})

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
    error_type = RetryableError if is_retryable_status(status) else PermanentError
    return error_type(f"HTTP {status}", service=service, code=code or str(status))


def transport_error(error: requests.RequestException, *, service: str) -> PueError:
    """The error a ``requests`` exception stands for: transport trouble is retryable, a bad URL is not."""
    name = type(error).__name__
    if isinstance(error, _TRANSIENT):
        return RetryableError("request did not complete", service=service, code=name)
    return PermanentError("request cannot be sent", service=service, code=name)
