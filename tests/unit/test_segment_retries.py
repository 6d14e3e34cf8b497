"""The Segment adapters retry transient failures a bounded number of times before reporting them, as
botocore does for the AWS calls (found by tests/functional/test_reliability_faults)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import urllib3.util.retry

from destinations.segment import personas, profile_api
from destinations.segment.personas import PersonasTraitSink
from destinations.segment.profile_api import ProfileApiPurchaseHistory
from schemas.errors import PermanentError, RetryableError
from schemas.recommendation import Recommendation, ScoredItem
from tests.support.http_receiver import HttpReceiver, Reply

TRAITS = "/v1/spaces/spa/collections/users/profiles/*"
OK_TRAITS = Reply(200, {"traits": {"purchased_products": ["p1"]}, "cursor": {"has_more": False}})


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


def _recommendation() -> Recommendation:
    return Recommendation("u1", "rid", (ScoredItem("i1", 1.0),), "e1")


def test_personas_retries_throttling_then_succeeds(receiver: HttpReceiver) -> None:
    receiver.script(
        "/v1/batch", Reply(429, {"code": "rate_limit_error", "message": "slow down"}), Reply(200, {})
    )
    report = PersonasTraitSink("key-123456", host=receiver.url).publish([_recommendation()])
    assert report.failed == {}
    ids = [request.json()["batch"][0]["messageId"] for request in receiver.requests_to("/v1/batch")]
    assert len(ids) == 2 and ids[0] == ids[1]  # the same message id: Segment drops the repeat


def test_personas_gives_up_after_its_attempts(receiver: HttpReceiver) -> None:
    receiver.script("/v1/batch", Reply(500, {"code": "server_error", "message": "down"}))
    report = PersonasTraitSink("key-123456", host=receiver.url).publish([_recommendation()])
    assert isinstance(report.failed["u1"], RetryableError)
    assert len(receiver.requests_to("/v1/batch")) == personas.SEND_ATTEMPTS


def test_personas_does_not_retry_a_permanent_error(receiver: HttpReceiver) -> None:
    receiver.script("/v1/batch", Reply(400, {"code": "invalid", "message": "bad"}))
    report = PersonasTraitSink("key-123456", host=receiver.url).publish([_recommendation()])
    assert isinstance(report.failed["u1"], PermanentError)
    assert len(receiver.requests_to("/v1/batch")) == 1


def test_profile_api_retries_throttling_then_succeeds(receiver: HttpReceiver) -> None:
    receiver.script(TRAITS, Reply(429, {"error": {"code": "rate_limit_error"}}), Reply(503), OK_TRAITS)
    history = ProfileApiPurchaseHistory("spa", "token-123456", host=receiver.url)
    assert history.purchased_items("u1") == {"p1"}
    assert len(receiver.requests) == 3


def test_profile_api_gives_up_after_its_retries(receiver: HttpReceiver) -> None:
    receiver.script(TRAITS, Reply(429, {"error": {"code": "rate_limit_error"}}))
    history = ProfileApiPurchaseHistory("spa", "token-123456", host=receiver.url)
    with pytest.raises(RetryableError):
        history.purchased_items("u1")
    assert len(receiver.requests) == 1 + profile_api.READ_RETRIES


def test_profile_api_retries_a_reset_connection(receiver: HttpReceiver) -> None:
    receiver.script(TRAITS, Reply(disconnect=True), OK_TRAITS)
    history = ProfileApiPurchaseHistory("spa", "token-123456", host=receiver.url)
    assert history.purchased_items("u1") == {"p1"}


def test_profile_api_does_not_wait_out_a_long_retry_after(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker sleeping an hour would hold the whole Lambda batch; Lambda's redelivery is the long wait.
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.Retry, "sleep", _record_sleep(slept))
    throttled = Reply(429, {"error": {"code": "rate_limit_error"}}, {"Retry-After": "3600"})
    receiver.script(TRAITS, throttled, OK_TRAITS)
    history = ProfileApiPurchaseHistory("spa", "token-123456", host=receiver.url)
    assert history.purchased_items("u1") == {"p1"}
    assert len(receiver.requests) == 2
    longest = profile_api.RETRY_BACKOFF_SECONDS * 2**profile_api.READ_RETRIES
    assert slept and all(seconds <= longest for seconds in slept)


def _record_sleep(slept: list[float]) -> Any:
    """Retry.sleep, recording what it would wait instead of waiting (Retry-After first, then backoff)."""

    def sleep(self: urllib3.util.retry.Retry, response: Any = None) -> None:
        after = self.get_retry_after(response) if response and self.respect_retry_after_header else None
        slept.append(after if after is not None else self.get_backoff_time())

    return sleep
