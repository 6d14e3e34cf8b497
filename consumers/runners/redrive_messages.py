"""What a message on one of pue's failure queues holds, for ``pue redrive``.

Two kinds, told apart by their body:

- a **dead letter** written by ``destinations.aws.sqs_dead_letters`` (one record: its raw bytes, plain or
  gzipped in base64, or an ``s3://`` pointer for one too large for SQS, plus where it came from, the reason
  and the attempt count);
- a **discarded batch**: the invocation record Lambda sends to the Kinesis event source mapping's on-failure
  destination. It names the shard and the first and last sequence numbers, never the records:
  https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html

Anything else is ``Unredrivable`` with a reason, and stays on the queue. What pue would never have written
is ``Refused`` (issue 23: a redrive reads with the stack's role, so a message must not choose what it reads
or how much): a body over ``REDRIVE_MESSAGE_MAX_BYTES``, a gzipped letter that expands past
``DEAD_LETTER_RECORD_MAX_BYTES`` (decompressed in bounded steps, never whole), an S3 letter without its
SHA-256 or claiming more than that limit. The bucket and stream a message names are checked against the
configuration by ``consumers.runners.redrive``. Refused messages stay on the queue too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any, Final

from schemas.dead_letter import DeadLetter
from schemas.limits import (
    DEAD_LETTER_RECORD_MAX_BYTES,
    KINESIS_SEQUENCE_NUMBER_MAX_DIGITS,
    REDRIVE_MESSAGE_MAX_BYTES,
)

BATCH_INFO: Final = "KinesisBatchInfo"
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
SHARD_ID: Final = re.compile(r"shardId-[0-9]{1,20}")
_GZIP: Final = 16 + zlib.MAX_WBITS  # zlib's wbits for a gzip stream


@dataclass(frozen=True, slots=True)
class LetterMessage:
    letter: DeadLetter  # raw is empty when the record is in S3 (``location``)
    location: str | None = None
    sha256: str | None = None  # always set with a location: the object's bytes must match it

    @property
    def key(self) -> str:
        """The record's identity: a fresh letter for the same record carries the same key."""
        return self.letter.letter_id


@dataclass(frozen=True, slots=True)
class DiscardedBatch:
    shard_id: str
    start_sequence: str
    end_sequence: str
    stream_arn: str

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rpartition(":stream/")[2]

    @property
    def key(self) -> str:
        return f"{self.shard_id}:{self.start_sequence}-{self.end_sequence}"


@dataclass(frozen=True, slots=True)
class Unredrivable:
    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Not something pue writes, in a way that would make the redrive read or store what it must not."""

    reason: str


Parsed = LetterMessage | DiscardedBatch | Unredrivable | Refused


def parse_message(body: str) -> Parsed:
    """Never raises: whatever the body holds, the answer says what it is."""
    if len(body) > REDRIVE_MESSAGE_MAX_BYTES or len(body.encode()) > REDRIVE_MESSAGE_MAX_BYTES:
        return Refused(f"message over {REDRIVE_MESSAGE_MAX_BYTES} bytes: larger than pue writes")
    try:
        document = json.loads(body)
    except ValueError:
        return Unredrivable("not JSON: not a pue dead letter or a Lambda invocation record")
    if not isinstance(document, dict):
        return Unredrivable("not a JSON object")
    if BATCH_INFO in document:
        return _discarded_batch(document[BATCH_INFO])
    if "encoding" in document and "data" in document:
        return _letter(document)
    return Unredrivable("neither a pue dead letter nor a Lambda invocation record")


def _letter(document: dict[str, Any]) -> Parsed:
    if document.get("truncated"):
        # Only a prefix was kept (no bucket configured): the whole record is in the stream, not here.
        return Unredrivable("truncated dead letter: the whole record was too large to keep")
    if document.get("encoding") not in ("base64", "gzip+base64", "s3"):
        return Unredrivable(f"unknown dead-letter encoding {str(document.get('encoding'))[:40]!r}")
    raw = _raw_of(document)
    if not isinstance(raw, bytes):
        return raw
    shard, sequence = document.get("shardId"), document.get("sequenceNumber")
    sub, attempt = document.get("subSequenceNumber"), document.get("attempt", 1)
    arn = document.get("eventSourceArn")
    if not (isinstance(shard, str) and isinstance(sequence, str)):
        return Unredrivable("dead letter without shardId and sequenceNumber")
    letter = DeadLetter(
        raw=raw,
        reason=str(document.get("reason", "")),
        shard_id=shard,
        sequence_number=sequence,
        sub_sequence_number=sub if isinstance(sub, int) else None,
        event_source_arn=arn if isinstance(arn, str) else None,
        attempt=attempt if isinstance(attempt, int) and attempt >= 1 else 1,
    )
    if document.get("encoding") == "s3":
        return _s3_letter(letter, document)
    return LetterMessage(letter)


def _raw_of(document: dict[str, Any]) -> bytes | Unredrivable | Refused:
    """The letter's bytes (empty for one in S3), decompressed at most to what pue writes."""
    data = document.get("data")
    if not isinstance(data, str):
        return Unredrivable("dead letter whose data cannot be decoded")
    try:
        raw = base64.b64decode(data, validate=True)
        if document.get("encoding") == "gzip+base64":
            raw = gunzip_at_most(raw, DEAD_LETTER_RECORD_MAX_BYTES)
    except TooLarge:
        return Refused(f"gzipped dead letter expands past {DEAD_LETTER_RECORD_MAX_BYTES} bytes")
    except (ValueError, binascii.Error, zlib.error):
        return Unredrivable("dead letter whose data cannot be decoded")
    if len(raw) > DEAD_LETTER_RECORD_MAX_BYTES:
        return Refused(f"dead letter over {DEAD_LETTER_RECORD_MAX_BYTES} bytes: larger than pue writes")
    return raw


def _s3_letter(letter: DeadLetter, document: dict[str, Any]) -> Parsed:
    """A pointer to the record in S3: its SHA-256 and size are required (checked again once read)."""
    location, digest, size = (document.get(name) for name in ("location", "sha256", "originalBytes"))
    if not (isinstance(location, str) and location.startswith("s3://")):
        return Unredrivable("dead letter in S3 without an s3:// location")
    if not (isinstance(digest, str) and SHA256_HEX.fullmatch(digest)):
        return Refused("dead letter in S3 without its SHA-256")
    if not isinstance(size, int) or size > DEAD_LETTER_RECORD_MAX_BYTES:
        return Refused(f"dead letter in S3 of no size or over {DEAD_LETTER_RECORD_MAX_BYTES} bytes")
    return LetterMessage(letter, location, digest)


class TooLarge(ValueError):
    """Decompressed data past its limit."""


def gunzip_at_most(data: bytes, limit: int) -> bytes:
    """``data`` gunzipped, ``TooLarge`` as soon as the output would pass ``limit`` bytes: the output is
    produced in bounded steps, so a small bomb never expands in memory. ``zlib.error`` when not gzip, and
    ``ValueError`` when the stream is truncated or followed by anything."""
    inflater = zlib.decompressobj(_GZIP)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge(f"expands past {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("truncated gzip, or data after it")
    return out


def _discarded_batch(info: Any) -> Parsed:
    if not isinstance(info, dict):
        return Unredrivable(f"{BATCH_INFO} is not an object")
    fields = [info.get(name) for name in ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn")]
    if not all(isinstance(value, str) and value for value in fields):
        return Unredrivable(f"{BATCH_INFO} without shardId, start/endSequenceNumber and streamArn")
    shard, start, end, arn = (str(value) for value in fields)
    if not SHARD_ID.fullmatch(shard):
        return Unredrivable(f"{BATCH_INFO} with an invalid shardId")
    digits = KINESIS_SEQUENCE_NUMBER_MAX_DIGITS
    if len(start) > digits or len(end) > digits:
        return Unredrivable(f"{BATCH_INFO} with an invalid sequence range")
    if not (start.isdigit() and end.isdigit() and int(start) <= int(end)):
        return Unredrivable(f"{BATCH_INFO} with an invalid sequence range")
    if ":kinesis:" not in arn or ":stream/" not in arn:
        return Unredrivable(f"{BATCH_INFO} streamArn is not a Kinesis stream ARN")
    return DiscardedBatch(shard, start, end, arn)
