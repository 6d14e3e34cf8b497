"""Translate botocore failures into pue's error tree: the pipeline never needs to know which service failed.

The rule (design.md, "Errors"): throttling, 5xx, timeouts and connection errors are retryable; other 4xx are
permanent. Messages carry the operation, the error code and the HTTP status, never the service's own message:
services echo request values there ("Value 'x' at 'userId' failed to satisfy constraint"), and request values
are user data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from schemas.errors import ConfigError, PermanentError, PueError, RetryableError

# Throttling codes as botocore's standard retry mode knows them (botocore/retries/standard.py), plus the
# SQS spellings. LimitExceededException is a request-rate limit on the Personalize APIs pue calls.
THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "AWS.SimpleQueueService.RequestThrottled",
        "KmsThrottled",
    }
)

# Transient although delivered as 4xx: a timeout on the service side, or temporary credentials that expired
# between signing and arrival (the next call signs with refreshed ones).
TRANSIENT_CODES: Final = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "IDPCommunicationError",
        "KmsUnavailable",
    }
)

_RETRYABLE_STATUSES: Final = frozenset({408, 429})

# What a boto3 call can raise besides bugs: catch exactly these around a call, then translate.
BOTO_ERRORS: Final = (ClientError, BotoCoreError, Urllib3HTTPError)


def error_code(error: Exception) -> str | None:
    """The service error code of a ``ClientError`` (``NotFoundException``...), else None."""
    if isinstance(error, ClientError):
        response: dict[str, Any] = getattr(error, "response", None) or {}
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _client_error(error: ClientError, service: str) -> PueError:
    response: dict[str, Any] = getattr(error, "response", None) or {}
    code = error_code(error) or "Unknown"
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    operation = getattr(error, "operation_name", None) or "call"
    message = f"{operation} failed" + (f" with HTTP {status}" if status is not None else "")
    retryable = (
        code in THROTTLING_CODES
        or code in TRANSIENT_CODES
        or status in _RETRYABLE_STATUSES
        or (isinstance(status, int) and status >= 500)
    )
    if retryable:
        return RetryableError(message, service=service, code=code)
    return PermanentError(message, service=service, code=code)


def translate_client_error(error: Exception, *, service: str) -> PueError:
    """The ``PueError`` a botocore (or urllib3) exception stands for, tagged with ``service`` and a code.

    Raises ``TypeError`` for anything else: an unexpected exception is a bug and must surface as one.
    """
    if isinstance(error, ClientError):
        return _client_error(error, service)
    name = type(error).__name__
    if isinstance(error, ConnectionError | HTTPClientError | Urllib3HTTPError):
        # Connect/read timeouts, refused or reset connections, proxy and TLS failures, protocol errors.
        return RetryableError("connection to the service failed", service=service, code=name)
    if isinstance(error, ParamValidationError):
        # botocore's report quotes the offending values; keep only the fact.
        return PermanentError("request failed client-side parameter validation", service=service, code=name)
    if isinstance(error, NoCredentialsError | PartialCredentialsError | NoRegionError):
        config_error = ConfigError([f"{service}: {name} (AWS credentials or region are not configured)"])
        config_error.service, config_error.code = service, name
        return config_error
    if isinstance(error, BotoCoreError):
        # The rest are transport-level (credential refresh, incomplete reads, streaming): transient.
        return RetryableError("the service call failed in transit", service=service, code=name)
    raise TypeError(f"not a botocore or urllib3 error: {name}") from error


@contextmanager
def translated(service: str) -> Iterator[None]:
    """Wrap a boto3 call: botocore and urllib3 errors leave as ``PueError``, chained to the original."""
    try:
        yield
    except BOTO_ERRORS as error:
        raise translate_client_error(error, service=service) from error
