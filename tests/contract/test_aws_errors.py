"""botocore failures map onto pue's error tree the same way for every AWS adapter."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from urllib3.exceptions import ProtocolError

from destinations.aws.errors import translate_client_error, translated
from schemas.errors import ConfigError, PermanentError, PoisonRecord, RetryableError


def client_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutEvents",
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("Throttling", 400),
        ("TooManyRequestsException", 429),
        ("ProvisionedThroughputExceededException", 400),
        ("RequestLimitExceeded", 400),
        ("LimitExceededException", 400),
        ("InternalServerErrorException", 500),
        ("ServiceUnavailable", 503),
        ("SomethingNew", 429),
    ],
)
def test_throttling_and_server_errors_are_retryable(code: str, status: int) -> None:
    error = translate_client_error(client_error(code, status), service="personalize-events")
    assert isinstance(error, RetryableError)
    assert (error.service, error.code) == ("personalize-events", code)


@pytest.mark.parametrize(
    ("code", "status"),
    [("InvalidInputException", 400), ("ValidationException", 400), ("BadRequestException", 400)],
)
def test_a_refused_content_is_the_records_fault(code: str, status: int) -> None:
    error = translate_client_error(client_error(code, status), service="pinpoint")
    assert isinstance(error, PoisonRecord)
    assert not error.retryable
    assert error.code == code


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 403),
        ("AccessDeniedException", 400),
        ("UnrecognizedClientException", 400),
        ("InvalidSignatureException", 400),
        ("ExpiredTokenException", 400),
        ("ExpiredToken", 400),
        ("ResourceNotFoundException", 404),  # PutEvents: the tracker is gone
        ("SomethingNewAboutAuth", 403),
        ("SomethingNewAboutAuth", 401),
    ],
)
def test_a_deployment_fault_is_a_config_error(code: str, status: int) -> None:
    error = translate_client_error(client_error(code, status), service="personalize-events")
    assert isinstance(error, ConfigError)
    assert (error.service, error.code) == ("personalize-events", code)
    assert str(error) == f"personalize-events: PutEvents failed with HTTP {status} [{code}]"


def test_not_found_is_classified_per_operation() -> None:
    """A missing domain is the operator's; a profile deleted between the search and the update is not."""

    def not_found(operation: str) -> ClientError:
        response = {
            "Error": {"Code": "ResourceNotFoundException"},
            "ResponseMetadata": {"HTTPStatusCode": 404},
        }
        return ClientError(response, operation)

    assert isinstance(translate_client_error(not_found("SearchProfiles"), service="cp"), ConfigError)
    assert isinstance(translate_client_error(not_found("UpdateProfile"), service="cp"), RetryableError)
    unknown = translate_client_error(not_found("SomeOtherOperation"), service="cp")
    assert type(unknown) is PermanentError


def test_messages_never_carry_the_services_text() -> None:
    echoed = "Value 'jane@example.com' at 'userId' failed to satisfy constraint"
    error = translate_client_error(client_error("ValidationException", 400, echoed), service="pinpoint")
    assert "jane@example.com" not in str(error)
    assert str(error) == "pinpoint: PutEvents failed with HTTP 400 [ValidationException]"


@pytest.mark.parametrize(
    "raised",
    [
        EndpointConnectionError(endpoint_url="https://personalize-events.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://x"),
        ReadTimeoutError(endpoint_url="https://x"),
        ConnectionClosedError(endpoint_url="https://x"),
        ProtocolError("Connection aborted."),
    ],
)
def test_connection_failures_are_retryable(raised: Exception) -> None:
    error = translate_client_error(raised, service="sqs")
    assert isinstance(error, RetryableError)
    assert error.code == type(raised).__name__


def test_parameter_validation_is_the_records_fault_without_the_values() -> None:
    raised = ParamValidationError(report="Invalid type for parameter userId, value: jane@example.com")
    error = translate_client_error(raised, service="personalize-events")
    assert isinstance(error, PoisonRecord)
    assert "jane@example.com" not in str(error)


def test_missing_credentials_are_a_config_error() -> None:
    error = translate_client_error(NoCredentialsError(), service="sqs")
    assert isinstance(error, ConfigError)
    assert error.service == "sqs"


def test_anything_else_is_a_bug_not_a_service_error() -> None:
    with pytest.raises(TypeError):
        translate_client_error(KeyError("itemId"), service="sqs")


def test_translated_reraises_from_the_original() -> None:
    original = client_error("ThrottlingException", 400)
    with pytest.raises(RetryableError) as caught, translated("personalize-runtime"):
        raise original
    assert caught.value.__cause__ is original
    assert caught.value.service == "personalize-runtime"


def test_translated_lets_bugs_through_untouched() -> None:
    with pytest.raises(KeyError), translated("sqs"):
        raise KeyError("bug")
