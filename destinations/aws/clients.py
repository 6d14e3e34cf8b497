"""AWS clients built one way: bounded retries, short timeouts, a connection pool sized for the worker pool.

The clients are botocore's low-level clients, the very objects ``boto3.client`` returns: boto3's own layer
(resources, S3 managed transfers) is never used by pue, and importing it costs a Lambda cold start about 40 ms
(s3transfer pulls in multiprocessing; docs/performance.md). botocore is imported inside ``make_client`` so
importing pue stays cheap and nothing talks to AWS at import time. Endpoint overrides come from botocore
itself: it honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``, so pue passes ``endpoint_url``
only when a caller gives one explicitly.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from schemas.errors import ConfigError

# One SDK call's retry budget, the one place it is stated: every attempt connects just in time and then waits
# its whole read timeout; before each retry botocore's standard mode sleeps at most 2**(retry) s, raised by an
# x-amz-retry-after header to at most 5 s more (botocore/retries/standard.py). The API function's Lambda
# Timeout in deploy/template.yaml must exceed it and stay within the HTTP API's 30 s integration timeout (a
# test checks both): that is why reads wait 3 s, ample for Personalize, Customer Profiles, SQS and DynamoDB.
MAX_ATTEMPTS: Final = 3
CONNECT_TIMEOUT_SECONDS: Final = 2.0
READ_TIMEOUT_SECONDS: Final = 3.0
RETRY_AFTER_MAX_EXTRA_SECONDS: Final = 5.0
SDK_CALL_BUDGET_SECONDS: Final = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + sum(
    2.0**retry + RETRY_AFTER_MAX_EXTRA_SECONDS for retry in range(MAX_ATTEMPTS - 1)
)

_session_lock = threading.Lock()
_session: Any = None


def _shared_session() -> Any:
    """One botocore Session per process: each new one reloads the service data files (slow at cold start)."""
    global _session
    if _session is None:
        import botocore.session

        _session = botocore.session.get_session()
    return _session


def make_client(
    service: str,
    *,
    max_pool_connections: int = 16,
    region: str | None = None,
    retry_mode: str = "standard",
    max_attempts: int = MAX_ATTEMPTS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    endpoint_url: str | None = None,
) -> Any:
    """A low-level client for ``service``. Thread-safe to use once built; built under a lock.

    ``max_attempts`` counts the first call: botocore retries throttling and 5xx itself before pue's own
    error translation sees anything. Keep ``max_pool_connections`` at least the pipeline's worker count, or
    workers queue for a connection ("Connection pool is full" warnings).
    """
    from botocore.config import Config

    config = Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra="pue",
    )
    kwargs: dict[str, Any] = {"config": config}
    if region is not None:
        kwargs["region_name"] = region
    if endpoint_url is not None:
        kwargs["endpoint_url"] = endpoint_url
    from botocore.exceptions import NoRegionError

    # Session.client is not thread-safe (it mutates the session's loaders and caches).
    with _session_lock:
        try:
            return _shared_session().create_client(service, **kwargs)
        except NoRegionError as error:
            # Raised at cold start, from deep inside boto3, as "You must specify a region": name the setting
            # instead (tests/functional/test_reliability_config).
            raise ConfigError(
                [f"{service}: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)"]
            ) from error
