"""Decode one Lambda Kinesis record: base64 -> KPL deaggregation -> UTF-8 -> JSON object (a Segment message).

Each record is decoded on its own and ``decode_record`` never raises: a record (or one KPL sub-record) that
cannot be decoded becomes an ``Undecodable`` with a short, stable reason and the best bytes available, so
the pipeline can dead-letter it and go on with the rest of the batch. It always returns at least one entry,
so every record lands in some bucket.

KPL aggregates are unpacked here rather than with ``aws_kinesis_agg.deaggregate_records``: that works on a
whole batch, raises for one bad record and prints (then drops) sub-records it cannot read.
Aggregation format: https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import importlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeGuard

from aws_kinesis_agg import DIGEST_SIZE, MAGIC

from schemas.dead_letter import UNKNOWN

_MAX_RECORD_REPR: Final = 1024 * 1024  # Kinesis's own record limit: what a letter keeps of an odd record
# Typed here: aws-kinesis-agg ships no type information.
_MAGIC: Final[bytes] = MAGIC
_DIGEST_SIZE: Final[int] = DIGEST_SIZE

_JSON_TYPE_NAMES: Final = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where a (sub-)record came from: enough to dead-letter it and to report it for retry."""

    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None
    partition_key: str | None
    event_source_arn: str | None


@dataclass(frozen=True, slots=True)
class Decoded:
    ref: RecordRef
    raw: bytes
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Undecodable:
    ref: RecordRef
    raw: bytes
    reason: str


def decode_record(record: Mapping[str, Any]) -> list[Decoded | Undecodable]:
    """Every user record carried by one Lambda Kinesis record, decoded or not, in order."""
    ref = _record_ref(record)
    kinesis = record.get("kinesis") if _is_mapping(record) else None
    if not _is_mapping(kinesis) or "data" not in kinesis:
        return [Undecodable(ref, _record_bytes(record), "record without kinesis.data")]
    data = kinesis["data"]
    if type(data) is not str and not isinstance(data, str | bytes):
        return [Undecodable(ref, _record_bytes(record), "kinesis.data is not a string")]
    try:
        payload = base64.b64decode(data, validate=True)
    except ValueError:  # binascii.Error, or a str with non-ASCII characters
        text = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        return [Undecodable(ref, text, "invalid base64")]
    return decode_payload(ref, payload)


def decode_payload(ref: RecordRef, payload: bytes) -> list[Decoded | Undecodable]:
    """Every user record in one Kinesis record's data (after base64): a KPL aggregate's sub-records, or the
    one message. ``pue replay`` reads JSON lines straight into this, without the base64 round trip."""
    if payload.startswith(_MAGIC):
        return _deaggregate(ref, payload)
    return [_parse(ref, payload)]


def _record_bytes(record: Any) -> bytes:
    """The whole Lambda record as JSON, for a letter when it has no data of its own to keep."""
    try:
        return json.dumps(record, sort_keys=True, default=repr).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError, RecursionError):  # keys that do not sort, nesting past the stack
        pass
    try:
        return repr(record).encode("utf-8", "surrogatepass")[:_MAX_RECORD_REPR]
    except RecursionError:
        return f"<a {type(record).__name__} nested too deeply to keep>".encode()


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # type() first: Lambda's records are dicts, and isinstance against an ABC costs several times more.
    return type(value) is dict or isinstance(value, Mapping)


def _record_ref(record: Any) -> RecordRef:
    if not _is_mapping(record):
        record = {}
    kinesis = record.get("kinesis")
    if not _is_mapping(kinesis):
        kinesis = {}
    event_id = record.get("eventID")
    shard_id, colon, _ = event_id.partition(":") if isinstance(event_id, str) else ("", "", "")
    sequence = kinesis.get("sequenceNumber")
    partition_key = kinesis.get("partitionKey")
    arn = record.get("eventSourceARN")
    return RecordRef(
        shard_id if colon and shard_id else UNKNOWN,
        sequence if isinstance(sequence, str) and sequence else UNKNOWN,
        None,
        partition_key if isinstance(partition_key, str) else None,
        arn if isinstance(arn, str) else None,
    )


def _deaggregate(ref: RecordRef, payload: bytes) -> list[Decoded | Undecodable]:
    # The KPL's own deaggregators treat a record whose md5 does not match (or whose protobuf does not
    # parse) as a plain user record. Here that plain record would start with the magic bytes, which can
    # never be UTF-8 JSON, so it is reported at once as what it almost certainly is: a damaged aggregate.
    body_end = len(payload) - _DIGEST_SIZE
    if body_end < len(_MAGIC):
        return [Undecodable(ref, payload, "corrupt KPL aggregate: truncated")]
    body = payload[len(_MAGIC) : body_end]
    if hashlib.md5(body, usedforsecurity=False).digest() != payload[body_end:]:
        return [Undecodable(ref, payload, "corrupt KPL aggregate: md5 mismatch")]
    aggregated_record, decode_error = _protobuf()
    aggregate = aggregated_record()
    try:
        aggregate.ParseFromString(body)
    except decode_error:
        return [Undecodable(ref, payload, "corrupt KPL aggregate: protobuf")]
    keys = list(aggregate.partition_key_table)
    entries: list[Decoded | Undecodable] = []
    for index, sub in enumerate(aggregate.records):
        data = bytes(sub.data)
        key_index = sub.partition_key_index
        if key_index >= len(keys):
            sub_ref = dataclasses.replace(ref, sub_sequence_number=index, partition_key=None)
            reason = "corrupt KPL sub-record: partition key index out of range"
            entries.append(Undecodable(sub_ref, data, reason))
            continue
        # The explicit hash key only routed the record to its shard; nothing downstream needs it.
        sub_ref = dataclasses.replace(ref, sub_sequence_number=index, partition_key=keys[key_index])
        entries.append(_parse(sub_ref, data))
    return entries or [Undecodable(ref, payload, "empty KPL aggregate")]


@functools.cache
def _protobuf() -> tuple[type[Any], type[Exception]]:
    """The KPL protobuf message class and protobuf's DecodeError, imported on first use (cold start)."""
    # aws-kinesis-agg's generated messages_pb2 does a bare ``import config_pb2``; the package's own modules
    # make that work by prepending their directory (and site-packages) to sys.path. Registering the
    # packaged module under that name instead touches nothing else.
    if "config_pb2" not in sys.modules:
        sys.modules["config_pb2"] = importlib.import_module("aws_kinesis_agg.config_pb2")
    messages_pb2 = importlib.import_module("aws_kinesis_agg.messages_pb2")
    protobuf_message = importlib.import_module("google.protobuf.message")
    return messages_pb2.AggregatedRecord, protobuf_message.DecodeError


class _NotJson(ValueError):
    """A number JSON cannot represent, which Python's json module would otherwise accept."""


def _reject_constant(name: str) -> NoReturn:
    # NaN and Infinity are not JSON; Segment would not have sent them and Personalize rejects them.
    raise _NotJson(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999 parses as infinity: not a number anything accepts
        raise _NotJson("number out of range")
    return value


# Built once: json.loads with hooks builds a new JSONDecoder per call, a tenth of the cost of decoding a small
# message (figure 3 of tests/benchmarks). Like json's own shared default decoder, it keeps no per-call state.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_BOM: Final = "\ufeff"


def _parse(ref: RecordRef, raw: bytes) -> Decoded | Undecodable:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Undecodable(ref, raw, "invalid UTF-8")
    try:
        if text.startswith(_BOM):  # what json.loads refuses before decoding; the decoder alone would not
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        return Undecodable(ref, raw, f"invalid JSON: {exc.msg}")
    except _NotJson as exc:
        return Undecodable(ref, raw, f"invalid JSON: {exc}")
    except RecursionError:
        return Undecodable(ref, raw, "invalid JSON: nested too deeply")
    except ValueError:  # an integer longer than sys.get_int_max_str_digits()
        return Undecodable(ref, raw, "invalid JSON: number out of range")
    if not isinstance(value, dict):
        return Undecodable(ref, raw, f"not a JSON object ({_JSON_TYPE_NAMES.get(type(value), 'null')})")
    return Decoded(ref, raw, value)
