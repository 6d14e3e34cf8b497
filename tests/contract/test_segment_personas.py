"""Segment Personas sink specifics: request splitting, size limits, error translation, quiet logging."""

from __future__ import annotations

import base64
import logging
import socket

import pytest

from destinations.segment.personas import PersonasTraitSink
from schemas.errors import PermanentError, RetryableError
from schemas.limits import SEGMENT_BATCH_MAX_BYTES, SEGMENT_BATCH_MAX_MESSAGES
from schemas.recommendation import Recommendation, ScoredItem
from schemas.traits import RECOMMENDED_PRODUCTS, RECOMMENDED_PRODUCTS_STR, deterministic_message_id
from tests.support.http_receiver import HttpReceiver, Reply

WRITE_KEY = "wk-secret-123"


def rec(user: str, *items: str) -> Recommendation:
    return Recommendation(user, f"RID-{user}", tuple(ScoredItem(i) for i in items), refresh_key="evt-1")


def batch_sizes(receiver: HttpReceiver) -> list[int]:
    return [len(request.json()["batch"]) for request in receiver.requests_to("/v1/batch")]


def test_requests_hold_at_most_100_messages() -> None:
    with HttpReceiver() as receiver:
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish(
            [rec(f"user-{n}", "p1") for n in range(250)]
        )
        assert report.ok
        assert batch_sizes(receiver) == [SEGMENT_BATCH_MAX_MESSAGES, SEGMENT_BATCH_MAX_MESSAGES, 50]
        users = [m["userId"] for r in receiver.requests_to("/v1/batch") for m in r.json()["batch"]]
    assert users == [f"user-{n}" for n in range(250)]


def test_requests_stay_under_500_kb() -> None:
    # ~29 KB per message (the list and its comma-joined twin): 17 fit in 500 KB, so 40 users need
    # 3 requests although 40 < 100 messages.
    items = [f"product-{n:05d}-{'x' * 60}" for n in range(190)]
    with HttpReceiver() as receiver:
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish(
            [rec(f"user-{n}", *items) for n in range(40)]
        )
        bodies = [request.body for request in receiver.requests_to("/v1/batch")]
    assert report.ok
    assert len(bodies) == 3
    assert all(len(body) <= SEGMENT_BATCH_MAX_BYTES for body in bodies)
    assert max(len(body) for body in bodies) > SEGMENT_BATCH_MAX_BYTES * 0.9, "batches should be packed"


def test_a_message_over_32_kb_fails_only_its_user() -> None:
    huge = [f"product-{n:05d}-{'y' * 80}" for n in range(400)]  # ~40 KB of traits
    with HttpReceiver() as receiver:
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish(
            [rec("big", *huge), rec("small", "p1")]
        )
        sent = [m["userId"] for r in receiver.requests_to("/v1/batch") for m in r.json()["batch"]]
    assert set(report.failed) == {"big"}
    assert isinstance(report.failed["big"], PermanentError)
    assert not report.failed["big"].retryable
    assert sent == ["small"]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(429, True), (500, True), (503, True), (408, True), (400, False), (401, False), (413, False)],
)
def test_a_rejected_request_fails_every_user_in_it(status: int, retryable: bool) -> None:
    with HttpReceiver() as receiver:
        receiver.script(
            "/v1/batch", Reply(200, {"success": True}), Reply(status, {"code": "x", "message": "no"})
        )
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish(
            [rec(f"u{n}", "p") for n in range(150)]
        )
    assert set(report.failed) == {f"u{n}" for n in range(100, 150)}
    assert all(error.retryable is retryable for error in report.failed.values())
    assert all(error.service == "segment" for error in report.failed.values())


def test_an_error_without_a_json_body_is_still_translated() -> None:
    with HttpReceiver() as receiver:
        receiver.script("/v1/batch", Reply(502, "<html>bad gateway</html>"))
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish([rec("alice", "p1")])
    assert isinstance(report.failed["alice"], RetryableError)


def test_a_dropped_connection_is_retryable() -> None:
    with HttpReceiver() as receiver:
        receiver.script("/v1/batch", Reply(disconnect=True))
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish([rec("alice", "p1")])
    assert isinstance(report.failed["alice"], RetryableError)


def test_a_timeout_is_retryable() -> None:
    with HttpReceiver() as receiver:
        receiver.script("/v1/batch", Reply(200, {"success": True}, delay=1.0))
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url, timeout=0.05).publish([rec("alice", "p1")])
    assert isinstance(report.failed["alice"], RetryableError)


def test_nothing_listening_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = PersonasTraitSink(WRITE_KEY, host=f"http://127.0.0.1:{port}").publish([rec("alice", "p1")])
    assert isinstance(report.failed["alice"], RetryableError)


def test_the_write_key_authenticates_each_request() -> None:
    with HttpReceiver() as receiver:
        PersonasTraitSink(WRITE_KEY, host=receiver.url).publish([rec("alice", "p1")])
        (request,) = receiver.requests_to("/v1/batch")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def test_the_segment_logger_never_logs_bodies(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("segment").setLevel(logging.DEBUG)
    with HttpReceiver() as receiver:
        sink = PersonasTraitSink(WRITE_KEY, host=receiver.url)
        assert logging.getLogger("segment").level == logging.WARNING
        sink.publish([rec("alice", "secret-product")])
        receiver.script("/v1/batch", Reply(400, "nope"))
        sink.publish([rec("bob", "secret-product")])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert WRITE_KEY not in logged
    assert "secret-product" not in logged


def test_each_identify_carries_the_deterministic_message_id() -> None:
    recommendation = rec("alice", "p1", "p2")
    with HttpReceiver() as receiver:
        sink = PersonasTraitSink(WRITE_KEY, host=receiver.url)
        assert sink.publish([recommendation]).ok
        assert sink.publish([recommendation]).ok
        messages = [m for r in receiver.requests_to("/v1/batch") for m in r.json()["batch"]]
    assert [m["messageId"] for m in messages] == [deterministic_message_id(recommendation, "personas")] * 2
    assert messages[0]["type"] == "identify"
    assert messages[0]["traits"] == {RECOMMENDED_PRODUCTS: ["p1", "p2"], RECOMMENDED_PRODUCTS_STR: "p1,p2"}
