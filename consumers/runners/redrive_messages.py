"""What a message on one of pue's failure queues holds, for ``pue redrive``.

Two kinds, told apart by their body:

- a **dead letter** written by ``destinations.aws.sqs_dead_letters`` (one record: its raw bytes, plain or
  gzipped in base64, or an ``s3://`` pointer for one too large for SQS, plus where it came from, the reason
  and the attempt count);
- a **discarded batch**: the invocation record Lambda sends to the Kinesis event source mapping's on-failure
  destination. It names the shard and the first and last sequence numbers, never the records:
  https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html

Anything else is ``Unredrivable`` with a reason, and stays on the queue.
"""

from __future__ import annotations

import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any, Final

from destinations.aws.sqs_dead_letters import decode_body
from schemas.dead_letter import DeadLetter

BATCH_INFO: Final = "KinesisBatchInfo"


@dataclass(frozen=True, slots=True)
class LetterMessage:
    letter: DeadLetter  # raw is empty when the record is in S3 (``location``)
    location: str | None = None
    sha256: str | None = None

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


Parsed = LetterMessage | DiscardedBatch | Unredrivable


def parse_message(body: str) -> Parsed:
    """Never raises: whatever the body holds, the answer says what it is."""
    try:
        document = json.loads(body)
    except ValueError:
        return Unredrivable("not JSON: not a pue dead letter or a Lambda invocation record")
    if not isinstance(document, dict):
        return Unredrivable("not a JSON object")
    if BATCH_INFO in document:
        return _discarded_batch(document[BATCH_INFO])
    if "encoding" in document and "data" in document:
        return _letter(body, document)
    return Unredrivable("neither a pue dead letter nor a Lambda invocation record")


def _letter(body: str, document: dict[str, Any]) -> Parsed:
    if document.get("truncated"):
        # Only a prefix was kept (no bucket configured): the whole record is in the stream, not here.
        return Unredrivable("truncated dead letter: the whole record was too large to keep")
    if document.get("encoding") not in ("base64", "gzip+base64", "s3"):
        return Unredrivable(f"unknown dead-letter encoding {str(document.get('encoding'))[:40]!r}")
    try:
        raw, _ = decode_body(body)
    except (ValueError, binascii.Error, OSError, EOFError, zlib.error, KeyError, TypeError):
        return Unredrivable("dead letter whose data cannot be decoded")
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
        location, digest = document.get("location"), document.get("sha256")
        if not (isinstance(location, str) and location.startswith("s3://")):
            return Unredrivable("dead letter in S3 without an s3:// location")
        return LetterMessage(letter, location, digest if isinstance(digest, str) else None)
    return LetterMessage(letter)


def _discarded_batch(info: Any) -> Parsed:
    if not isinstance(info, dict):
        return Unredrivable(f"{BATCH_INFO} is not an object")
    fields = [info.get(name) for name in ("shardId", "startSequenceNumber", "endSequenceNumber", "streamArn")]
    if not all(isinstance(value, str) and value for value in fields):
        return Unredrivable(f"{BATCH_INFO} without shardId, start/endSequenceNumber and streamArn")
    shard, start, end, arn = (str(value) for value in fields)
    if not (start.isdigit() and end.isdigit() and int(start) <= int(end)):
        return Unredrivable(f"{BATCH_INFO} with an invalid sequence range")
    if ":kinesis:" not in arn or ":stream/" not in arn:
        return Unredrivable(f"{BATCH_INFO} streamArn is not a Kinesis stream ARN")
    return DiscardedBatch(shard, start, end, arn)
