"""Translate botocore failures into pue's error tree: the pipeline never needs to know which service failed.

The rule (design.md, "Errors") asks of every code "who must act?":

- nobody but time: throttling, 5xx, timeouts, connection errors -> ``RetryableError``;
- the operator: a denied permission, unknown or expired credentials, a bad signature, a tracker, campaign,
  filter, domain, application, queue, bucket or table that does not exist -> ``ConfigError`` (the records
  are retried and the batch says why, loudly; they are never dead-lettered for it);
- the record's sender: the service refused the request's content -> ``PoisonRecord``.

"Not found" is classified per operation: about a resource the deployment names it is the operator's fault,
about the record's own entity (a Customer Profiles profile deleted between the search and the update) it is
not. The table of every code of every adapter is docs/reliability.md, "Who must act"; a test drives each row.

Messages carry the operation, the error code and the HTTP status, never the service's own message:
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

from schemas.errors import ConfigError, PermanentError, PoisonRecord, PueError, RetryableError

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

# Transient although delivered as 4xx: a timeout on the service side, a request signed long before it
# arrived, a resource busy being updated.
TRANSIENT_CODES: Final = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "RequestExpired",
        "IDPCommunicationError",
        "KmsUnavailable",
        "ResourceInUseException",  # Personalize: the tracker is being created or updated
        "ConflictException",
    }
)

# The deployment is wrong whatever the record: the operator must act. AWS common errors
# (https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html), S3's spellings
# (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html), Pinpoint's ForbiddenException,
# and the KMS faults SQS and S3 report for an encrypted queue or bucket. An expired token is the
# operator's too: the Lambda runtime refreshes its role's credentials itself, so one that reaches a service
# was not refreshed.
OPERATOR_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
        "NotAuthorized",
        "OptInRequired",
        "AllAccessDisabled",
        "AccountProblem",
        "ForbiddenException",
        "InvalidSecurity",
        "KmsAccessDenied",
        "KmsDisabled",
        "KmsNotFound",
        "KmsInvalidState",
        "KmsInvalidKeyUsage",
        "KmsOptInRequired",
        "KMS.DisabledException",
        "KMS.NotFoundException",
        "KMS.AccessDeniedException",
    }
)

_NOT_FOUND: Final = frozenset({"ResourceNotFoundException"})
# Per operation, the "not found" codes that name a resource of the deployment (the operator must act).
MISSING_RESOURCE_CODES: Final[dict[str, frozenset[str]]] = {
    "PutEvents": _NOT_FOUND,  # the event tracker
    "GetRecommendations": _NOT_FOUND,  # the campaign, recommender or filter
    "SendMessageBatch": frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"}),
    "PutObject": frozenset({"NoSuchBucket"}),
    "BatchGetItem": _NOT_FOUND,  # the table
    "BatchWriteItem": _NOT_FOUND,
    "UpdateItem": _NOT_FOUND,
    "PutItem": _NOT_FOUND,
    "DeleteItem": _NOT_FOUND,
    "SearchProfiles": _NOT_FOUND,  # the Customer Profiles domain
    "CreateProfile": _NOT_FOUND,
    "UpdateEndpointsBatch": frozenset({"NotFoundException"}),  # the Pinpoint application
    "SendUsersMessages": frozenset({"NotFoundException"}),
}

# Per operation, the "not found" codes about the record's own entity that vanished between two calls: the
# retry starts over (searches again) and finds the world as it now is.
VANISHED_ENTITY_CODES: Final[dict[str, frozenset[str]]] = {
    "UpdateProfile": _NOT_FOUND,
    "AddProfileKey": _NOT_FOUND,
}

# The service refused the request's content: only the record's sender can fix it.
RECORD_CODES: Final = frozenset(
    {
        "InvalidInputException",
        "ValidationException",
        "ValidationError",
        "BadRequestException",
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidMessageContents",
        "PayloadTooLargeException",
        "RequestEntityTooLargeException",
        "EntityTooLarge",
    }
)

_OPERATOR_STATUSES: Final = frozenset({401, 403})

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
    if code in OPERATOR_CODES or code in MISSING_RESOURCE_CODES.get(operation, ()):
        return ConfigError.at_run_time(message, service=service, code=code)
    retryable = (
        code in THROTTLING_CODES
        or code in TRANSIENT_CODES
        or code in VANISHED_ENTITY_CODES.get(operation, ())
        or status in _RETRYABLE_STATUSES
        or (isinstance(status, int) and status >= 500)
    )
    if retryable:
        return RetryableError(message, service=service, code=code)
    if status in _OPERATOR_STATUSES:
        # A code this table does not know yet, with the status of an authorization failure.
        return ConfigError.at_run_time(message, service=service, code=code)
    if code in RECORD_CODES:
        return PoisonRecord(message, service=service, code=code)
    # Unknown 4xx: still not worth retrying as is; the pipeline treats it like the record's fault.
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
        # botocore's report quotes the offending values (the record's); keep only the fact.
        return PoisonRecord("request failed client-side parameter validation", service=service, code=name)
    if isinstance(error, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return ConfigError.at_run_time(
            "AWS credentials or region are not configured", service=service, code=name
        )
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
