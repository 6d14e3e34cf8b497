"""Shared test factories: Segment messages and the Lambda Kinesis events that carry them.

Message ids are deterministic (a uuid5 of the message's content), so runs are reproducible and a message
built twice from the same arguments is the same message (as a redelivery would be). Pass ``message_id``,
or vary a property or the timestamp, to get distinct messages.

Records are shaped by ``consumers.runners.lambda_events``, the same code ``pue replay`` uses, so tests feed
the handler exactly what local runs do; KPL aggregates are built by aws-kinesis-agg's own aggregator.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from consumers.runners import lambda_events

DEFAULT_SHARD = "shardId-000000000000"
DEFAULT_TIMESTAMP = "2026-11-01T12:00:00.000Z"

# Fixed namespace: the same content gives the same message id in every process and every run.
_MESSAGE_ID_NAMESPACE = uuid.UUID("0b6f5c1e-4d0a-4e47-9d55-3a2f0c9e8b71")


def _with_message_id(message: dict[str, Any], message_id: str | None) -> dict[str, Any]:
    if message_id is None:
        content = json.dumps(message, sort_keys=True, default=str)
        message_id = str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, content))
    return {**message, "messageId": message_id}


def segment_track(
    event: str,
    *,
    user_id: str | int | None = "u1",
    anonymous_id: str | None = None,
    properties: dict[str, Any] | None = None,
    message_id: str | None = None,
    timestamp: str = DEFAULT_TIMESTAMP,
) -> dict[str, Any]:
    """A Segment ``track`` message as Segment's Kinesis destination writes it."""
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "properties": dict(properties or {}),
        "timestamp": timestamp,
        "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
    }
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    return _with_message_id(message, message_id)


def segment_identify(
    user_id: str, traits: dict[str, Any] | None = None, *, message_id: str | None = None
) -> dict[str, Any]:
    """A Segment ``identify`` message."""
    message: dict[str, Any] = {
        "type": "identify",
        "userId": user_id,
        "traits": dict(traits or {}),
        "timestamp": DEFAULT_TIMESTAMP,
    }
    return _with_message_id(message, message_id)


def kinesis_record(
    data: bytes, *, sequence_number: str, shard_id: str = DEFAULT_SHARD, partition_key: str = "pk"
) -> dict[str, Any]:
    """One Lambda Kinesis record carrying ``data`` (base64-encoded here)."""
    return lambda_events.lambda_record(
        data, sequence=sequence_number, partition_key=partition_key, shard_id=shard_id
    )


def kpl_aggregate(payloads: list[bytes], partition_keys: list[str] | None = None) -> bytes:
    """A real KPL aggregate (magic + protobuf + md5) of ``payloads``; keys default to Segment's (userId)."""
    keys = (
        partition_keys
        if partition_keys is not None
        else [lambda_events.partition_key_of(p) for p in payloads]
    )
    return lambda_events.kpl_aggregate(payloads, keys)


def kinesis_event(
    messages: Sequence[dict[str, Any] | bytes],
    *,
    aggregate: int = 0,
    shard_id: str = DEFAULT_SHARD,
    start_sequence: int = 1,
) -> dict[str, Any]:
    """``{"Records": [...]}``: one record per message (dicts become JSON, bytes are sent as they are), with
    increasing fixed-width sequence numbers. ``aggregate=N`` packs each run of N messages into one KPL record.
    """
    payloads = [m if isinstance(m, bytes) else json.dumps(m).encode("utf-8") for m in messages]
    size = max(aggregate, 1)
    records = []
    for offset, start in enumerate(range(0, len(payloads), size)):
        group = payloads[start : start + size]
        keys = [lambda_events.partition_key_of(p) for p in group]
        data = kpl_aggregate(group, keys) if aggregate else group[0]
        sequence = lambda_events.sequence_number(start_sequence + offset)
        records.append(
            kinesis_record(data, sequence_number=sequence, shard_id=shard_id, partition_key=keys[0])
        )
    return {"Records": records}
