"""Shape payloads as Lambda delivers a Kinesis batch: base64 records, optionally KPL-aggregated.

Used by ``pue replay``/``pue run`` (so local runs exercise the very handler Lambda calls), by
``pue consume`` and by tests and benchmarks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

DEFAULT_SHARD = "shardId-000000000000"
DEFAULT_STREAM_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/segment-events"
# Lambda's sequence numbers are decimal strings; a fixed width keeps string order equal to numeric order.
SEQUENCE_WIDTH = 56


def sequence_number(n: int) -> str:
    return str(n).zfill(SEQUENCE_WIDTH)


def partition_key_of(payload: bytes) -> str:
    """Segment's Kinesis destination partitions by userId, else anonymousId."""
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the stack (issue 14)
        return "unparseable"
    return partition_key_of_message(message) if isinstance(message, dict) else "unknown"


def partition_key_of_message(message: dict[str, Any]) -> str:
    """``partition_key_of`` for a payload already parsed to a JSON object."""
    key = message.get("userId") or message.get("anonymousId")
    return "unknown" if key is None else str(key)[:256]


def kpl_aggregate(payloads: Sequence[bytes], partition_keys: Sequence[str]) -> bytes:
    """One KPL-aggregated record (magic + protobuf + md5) holding ``payloads``, built by aws-kinesis-agg."""
    from aws_kinesis_agg.aggregator import RecordAggregator

    aggregator = RecordAggregator()
    for key, payload in zip(partition_keys, payloads, strict=True):
        if aggregator.add_user_record(key, payload) is not None:
            raise ValueError("payloads exceed one aggregated record (1 MB); aggregate fewer at a time")
    record = aggregator.clear_and_get()
    _, _, data = record.get_contents()
    return bytes(data)


def lambda_record(
    data: bytes,
    *,
    sequence: str,
    partition_key: str,
    shard_id: str = DEFAULT_SHARD,
    arrival: float = 0.0,
    stream_arn: str = DEFAULT_STREAM_ARN,
) -> dict[str, Any]:
    return {
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "eventSourceARN": stream_arn,
        "awsRegion": "us-east-1",
        "invokeIdentityArn": "arn:aws:iam::000000000000:role/pue-kinesis-consumer",
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
    }


def lambda_events(
    payloads: Sequence[bytes],
    *,
    batch_size: int = 100,
    aggregate_every: int = 0,
    aggregate_size: int = 5,
    shard_id: str = DEFAULT_SHARD,
    first_sequence: int = 1,
) -> Iterator[dict[str, Any]]:
    """Yield ``{"Records": [...]}`` events of at most ``batch_size`` Kinesis records.

    With ``aggregate_every=N`` (N > 0), every N-th record is a KPL aggregate of ``aggregate_size`` user
    records, as a KPL producer would write them.
    """
    records: list[dict[str, Any]] = []
    sequence = first_sequence
    index = 0
    while index < len(payloads):
        sequence += 1
        if aggregate_every and sequence % aggregate_every == 0:
            group = payloads[index : index + aggregate_size]
            keys = [partition_key_of(p) for p in group]
            data, key = kpl_aggregate(group, keys), keys[0]
            index += len(group)
        else:
            data, key = payloads[index], partition_key_of(payloads[index])
            index += 1
        records.append(
            lambda_record(data, sequence=sequence_number(sequence), partition_key=key, shard_id=shard_id)
        )
        if len(records) == batch_size:
            yield {"Records": records}
            records = []
    if records:
        yield {"Records": records}


def from_get_records(
    records: Sequence[Mapping[str, Any]], *, shard_id: str, stream_arn: str
) -> dict[str, Any]:
    """Shape Kinesis GetRecords output (boto3: bytes ``Data``) as the Lambda event for the same records."""
    out = []
    for record in records:
        arrival: Any = record.get("ApproximateArrivalTimestamp")
        out.append(
            lambda_record(
                bytes(record["Data"]),
                sequence=str(record["SequenceNumber"]),
                partition_key=str(record.get("PartitionKey", "")),
                shard_id=shard_id,
                arrival=arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival or 0.0),
                stream_arn=stream_arn,
            )
        )
    return {"Records": out}
