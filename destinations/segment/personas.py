"""Segment Personas traits: a cloud ``RecommendationSink`` (``identify`` calls through the tracking API).

https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#batch
An anonymous visitor's list (PUE_REFRESH_ANONYMOUS) goes in an ``identify`` with only an ``anonymousId``:
Segment's spec makes the userId "optional if anonymousId is set instead"
(https://segment.com/docs/connections/spec/identify/), and analytics-python's own ``identify`` requires
"user_id or anonymous_id". The traits land on the visitor's profile, which Segment's identity resolution
joins to the user's when an event later carries both ids.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from destinations.segment.http_errors import status_error, transport_error
from destinations.sink_input import latest_per_user
from schemas.delivery import DeliveryReport
from schemas.errors import PermanentError, PueError
from schemas.limits import SEGMENT_BATCH_MAX_BYTES, SEGMENT_BATCH_MAX_MESSAGES, SEGMENT_MESSAGE_MAX_BYTES
from schemas.recommendation import Recommendation
from schemas.traits import deterministic_message_id, personas_traits

SERVICE = "segment"
SINK_NAME = "personas"

# Attempts of one /v1/batch request before its users count as failed. Like botocore's standard mode for the
# AWS calls: with a single attempt, one 429 failed every user of the batch, and under 20 % throttling a Lambda
# batch was redelivered about every other time (tests/functional/test_reliability_faults). Re-sending is safe:
# message ids are deterministic, so Segment drops a batch it already took.
SEND_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 0.1  # full jitter, doubling per attempt (0..0.1 s, then 0..0.2 s)

# What request.post adds around the batch: {"batch": [...], "sentAt": "<32-char ISO time>", "writeKey": ...}.
_SENT_AT_PLACEHOLDER = "0000-00-00T00:00:00.000000+00:00"


@dataclass(frozen=True, slots=True)
class _Message:
    key: str  # the list's ``Recommendation.key``: what a failure is reported under
    body: dict[str, Any]
    size: int  # bytes of its JSON, as request.post will serialize it


def identify_message(recommendation: Recommendation) -> dict[str, Any]:
    """The ``identify`` carrying the list; a deterministic ``messageId`` lets Segment dedupe retries."""
    who = "anonymousId" if recommendation.anonymous else "userId"
    return {
        "type": "identify",
        who: recommendation.user_id,
        "traits": personas_traits(recommendation),
        "messageId": deterministic_message_id(recommendation, SINK_NAME),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "context": {"library": {"name": "pue"}},
    }


class PersonasTraitSink:
    """Sends one ``identify`` per user with ``recommended_products`` traits, synchronously, in /v1/batch
    requests of ≤100 messages and ≤500 KB.

    Why not analytics-python's ``Client``: its background queue reports failures only through an
    ``on_error`` callback, after backoffs that can last hours, and drops oversize messages with a log line.
    The Lambda must know which users failed before it returns, so this sink calls the library's
    ``request.post`` itself and reports every user of a failed request.
    """

    name = SINK_NAME
    takes_anonymous = True  # an identify with only an anonymousId

    def __init__(self, write_key: str, *, host: str = "https://api.segment.io", timeout: float = 5.0) -> None:
        # Loaded here, not at module import, and without the library's client (which pulls in jwt and
        # cryptography): only deployments writing to Personas need it (destinations/segment/tracking_request).
        from destinations.segment.tracking_request import segment_request_module

        segment_request = segment_request_module()

        # The "segment" logger writes each request body at DEBUG: the write key and every user's traits.
        # Neither belongs in logs, whatever level the root logger runs at.
        logging.getLogger("segment").setLevel(logging.WARNING)
        self._post = segment_request.post
        self._api_error: type[Exception] = segment_request.APIError
        self._write_key = write_key
        self._host = host
        self._timeout = timeout
        self._envelope_size = len(
            json.dumps({"batch": [], "sentAt": _SENT_AT_PLACEHOLDER, "writeKey": write_key}).encode()
        )

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        latest, failed = latest_per_user(recommendations, service=SERVICE)
        messages: list[_Message] = []
        for key, recommendation in latest.items():
            body = identify_message(recommendation)
            size = len(json.dumps(body).encode())
            if size > SEGMENT_MESSAGE_MAX_BYTES:
                failed[key] = PermanentError(
                    f"identify is {size} bytes, over Segment's message limit",
                    service=SERVICE,
                    code="MessageTooLarge",
                )
            else:
                messages.append(_Message(key, body, size))
        for batch in self._batches(messages):
            error = self._send(batch)
            if error is not None:
                failed.update((message.key, error) for message in batch)
        return DeliveryReport(failed)

    def _batches(self, messages: Sequence[_Message]) -> Iterator[list[_Message]]:
        batch: list[_Message] = []
        size = self._envelope_size
        for message in messages:
            grown = size + message.size + 2  # ", " between array items
            if batch and (len(batch) == SEGMENT_BATCH_MAX_MESSAGES or grown > SEGMENT_BATCH_MAX_BYTES):
                yield batch
                batch, grown = [], self._envelope_size + message.size + 2
            batch.append(message)
            size = grown
        if batch:
            yield batch

    def _send(self, batch: Sequence[_Message]) -> PueError | None:
        error = self._send_once(batch)
        for attempt in range(1, SEND_ATTEMPTS):
            if error is None or not error.retryable:
                break
            time.sleep(random.uniform(0, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)))  # noqa: S311 - jitter
            error = self._send_once(batch)
        return error

    def _send_once(self, batch: Sequence[_Message]) -> PueError | None:
        try:
            self._post(
                self._write_key,
                host=self._host,
                timeout=self._timeout,
                batch=[message.body for message in batch],
            )
        except requests.RequestException as error:
            return transport_error(error, service=SERVICE)
        except self._api_error as error:
            status = int(getattr(error, "status", 0) or 0)
            return status_error(status, service=SERVICE, code=str(getattr(error, "code", "") or status))
        return None
