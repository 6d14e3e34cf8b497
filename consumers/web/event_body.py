"""``POST /events`` bodies: one Segment message, or the review shape, as the Segment message to track.

The review shape ``{"userId", "itemId", "eventType", "rating"?, "timestamp"?}`` becomes a ``track`` call:
``event`` = eventType, ``properties.product_id`` = itemId, ``properties.rating`` = rating. Either way a
missing ``messageId`` is derived from the body as received (a uuid5 of its canonical JSON), so a retried
POST tracks nothing twice, and ``receivedAt`` is set as Segment's own API would, so a message without a
time of its own is tracked at the time of receipt.

Only the shape is checked here (malformed: 400). Whether the event is tracked at all is the event map's
call, in the same normalization as the stream (``Pipeline.track_and_refresh``).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from consumers.stream.timestamps import parse_timestamp
from consumers.web.contract import ApiError, bad_request
from consumers.web.validation import checked_id, text_problem
from schemas.limits import PERSONALIZE_EVENT_TYPE_MAX_LENGTH, SEGMENT_MESSAGE_MAX_BYTES

# Fixed: the same body gives the same messageId in every process, on every retry.
_MESSAGE_ID_NAMESPACE: Final = uuid.UUID("5d0c8e2a-7f41-4b6e-9a3d-2c1b0e9f8a77")
REVIEW_FIELDS: Final = frozenset({"userId", "itemId", "eventType", "rating", "timestamp"})
_STRING_FIELDS: Final = ("type", "event", "messageId", "timestamp")


def is_json_content_type(value: str | None) -> bool:
    media = (value or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object in the body; 413, 415 or 400 when it is not one."""
    if len(body) > SEGMENT_MESSAGE_MAX_BYTES:
        raise ApiError(
            413,
            "payload_too_large",
            f"the body is over {SEGMENT_MESSAGE_MAX_BYTES} bytes (one Segment message)",
        )
    if not is_json_content_type(content_type):
        raise ApiError(415, "unsupported_media_type", "send the body as Content-Type: application/json")
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise bad_request("the body is not a JSON document (UTF-8)") from None
    if not isinstance(document, dict):
        raise bad_request("the body must be a JSON object: a Segment message or the review shape")
    return document


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def segment_message(document: Mapping[str, Any], now: Callable[[], datetime]) -> dict[str, Any]:
    """The Segment message to track for a parsed body."""
    if "type" in document:
        message = _checked_segment(document)
    else:
        message = _review_to_track(document)
    message.setdefault("messageId", derived_message_id(document))
    message.setdefault("receivedAt", now().isoformat(timespec="milliseconds"))
    return message


def derived_message_id(document: Mapping[str, Any]) -> str:
    # ensure_ascii: lone surrogates from JSON escapes stay encodable.
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, canonical))


def _checked_segment(document: Mapping[str, Any]) -> dict[str, Any]:
    for name in _STRING_FIELDS:
        if name in document and not isinstance(document[name], str):
            raise bad_request(f"{name} must be a string")
    for name in ("userId", "anonymousId"):
        value = document.get(name)
        if isinstance(value, str):
            checked_id(value, name)
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise bad_request(f"{name} must be a string or a number")
    if "properties" in document and not isinstance(document["properties"], dict):
        raise bad_request("properties must be an object")
    if "timestamp" in document:
        _checked_timestamp(document["timestamp"])
    return dict(document)


def _review_to_track(document: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(document) - REVIEW_FIELDS)
    if unknown:
        raise bad_request(
            "the body is neither a Segment message (no type) nor the review shape "
            f"(userId, itemId, eventType, rating, timestamp): unexpected {len(unknown)} field(s)"
        )
    for name in ("userId", "itemId", "eventType"):
        if not isinstance(document.get(name), str):
            raise bad_request(f"{name} is required and must be a string")
    event_type = document["eventType"]
    problem = text_problem(event_type, PERSONALIZE_EVENT_TYPE_MAX_LENGTH)
    if problem is not None:
        raise bad_request(f"eventType {problem}")
    properties: dict[str, Any] = {"product_id": checked_id(document["itemId"], "itemId")}
    message: dict[str, Any] = {
        "type": "track",
        "event": event_type,
        "userId": checked_id(document["userId"], "userId"),
        "properties": properties,
    }
    if "rating" in document:
        rating = document["rating"]
        # An int is finite by nature (and may be too big for math.isfinite).
        if isinstance(rating, bool) or not isinstance(rating, int | float) or not _finite(rating):
            raise bad_request("rating must be a finite number")
        properties["rating"] = rating
    if "timestamp" in document:
        message["timestamp"] = _checked_timestamp(document["timestamp"])
    return message


def _finite(number: int | float) -> bool:
    return isinstance(number, int) or math.isfinite(number)


def _checked_timestamp(value: Any) -> Any:
    # Normalization would fall back to receivedAt: a time the caller sent but we cannot read is a mistake.
    if parse_timestamp(value) is None:
        raise bad_request("timestamp must be an ISO-8601 date and time (2026-11-01T12:00:00Z)")
    return value
