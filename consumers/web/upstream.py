"""pue's error tree as HTTP answers.

- ``RetryableError`` from throttling (an AWS throttling code, HTTP 429 from Segment, a busy local store):
  503 with ``Retry-After``, so well-behaved clients back off.
- any other ``RetryableError`` (5xx, timeouts, connection failures): 502.
- ``PermanentError`` raised by the pipeline itself, with no service named (the event is poison, filtered,
  or has no user): 422 with the reason, which names fields and limits, never user data.
- ``PermanentError`` from a service (it refused the call's content): 502.
- ``ConfigError`` met while serving (missing credentials, access denied, an unknown campaign: the
  deployment needs fixing, not the request): 500.
"""

from __future__ import annotations

from typing import Final

from consumers.web.contract import ApiError
from destinations.aws.errors import THROTTLING_CODES
from schemas.errors import ConfigError, PueError

RETRY_AFTER_SECONDS: Final = 1
# HTTP 429 as the Segment adapters code it; the local store names no code when SQLite stays locked.
_THROTTLING: Final = THROTTLING_CODES | {"429"}
_BUSY_SERVICES: Final = frozenset({"local-store"})


def is_throttling(error: PueError) -> bool:
    return error.retryable and (error.code in _THROTTLING or error.service in _BUSY_SERVICES)


def _source(error: PueError) -> str:
    code = f" [{error.code}]" if error.code else ""
    return f"{error.service or 'a service'}{code}"


def api_error(error: PueError) -> ApiError:
    if is_throttling(error):
        return ApiError(
            503,
            "throttled",
            f"{_source(error)} is throttling; retry after {RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if error.retryable:
        return ApiError(502, "upstream_failed", f"{_source(error)} failed; retry later")
    if isinstance(error, ConfigError):
        return ApiError(500, "internal_error", "the server is not configured for this request")
    if error.service is None:
        return ApiError(422, "unprocessable", error.message)
    return ApiError(502, "upstream_failed", f"{_source(error)} refused the call")
