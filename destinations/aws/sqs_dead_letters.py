"""Amazon SQS dead-letter queue: the cloud ``DeadLetterSink`` (SendMessageBatch).

https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from destinations.aws.errors import BOTO_ERRORS, translate_client_error
from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads
from schemas.dead_letter import DeadLetter
from schemas.delivery import DeliveryReport
from schemas.errors import PermanentError, PueError, RetryableError
from schemas.limits import SQS_BATCH_MAX_ENTRIES, SQS_MESSAGE_MAX_BYTES

SERVICE = "sqs"
REASON_ATTRIBUTE = "reason"


@dataclass(frozen=True, slots=True)
class _Entry:
    letter_id: str
    entry: dict[str, Any]  # one SendMessageBatchRequestEntry, without its Id
    size: int  # as SQS counts it: body plus attribute names, types and values, in bytes


def message_body(
    letter: DeadLetter, *, compress: bool = False, keep_bytes: int | None = None, stored_at: str | None = None
) -> str:
    """The JSON body: the raw record (base64, optionally gzipped first) and where it came from.

    For a record too large for SQS even compressed (see ``SqsDeadLetterSink._entry``): ``stored_at`` points
    at the whole record in S3 instead of carrying it, or, without a bucket, ``keep_bytes`` keeps only that
    prefix, marked ``truncated``. Both add the original size and SHA-256.
    """
    raw = letter.raw if keep_bytes is None else letter.raw[:keep_bytes]
    data = gzip.compress(raw, mtime=0) if compress else raw
    document: dict[str, Any] = {
        "reason": letter.reason,
        "shardId": letter.shard_id,
        "sequenceNumber": letter.sequence_number,
        "subSequenceNumber": letter.sub_sequence_number,
        "eventSourceArn": letter.event_source_arn,
        "attempt": letter.attempt,
        "encoding": "gzip+base64" if compress else "base64",
        "data": base64.b64encode(data).decode("ascii"),
    }
    if stored_at is not None:
        document |= {"encoding": "s3", "data": "", "location": stored_at}
    elif keep_bytes is not None:
        document["truncated"] = True
    if stored_at is not None or keep_bytes is not None:
        document |= {"originalBytes": len(letter.raw), "sha256": hashlib.sha256(letter.raw).hexdigest()}
    return json.dumps(document, separators=(",", ":"))


def decode_body(body: str) -> tuple[bytes, dict[str, Any]]:
    """The raw bytes and the metadata of a message written by this sink (for inspection and redrive).

    For ``"encoding": "s3"`` the bytes are empty: the record is at ``location``.
    """
    document: dict[str, Any] = json.loads(body)
    data = base64.b64decode(document["data"])
    if document.get("encoding") == "gzip+base64":
        data = gzip.decompress(data)
    return data, document


class SqsDeadLetterSink:
    """Sends dead letters to an SQS queue, ≤10 messages and ≤256 KiB per SendMessageBatch call.

    SendMessageBatch succeeds partially: every ``Failed`` entry is reported under its letter id
    (``SenderFault`` means the request itself is wrong: permanent). On a FIFO queue the deduplication id is
    derived from the letter id, so a redelivered batch does not enqueue the same letter twice; a standard
    queue may hold duplicates, which is harmless for inspection and redrive.
    """

    def __init__(self, client: Any, queue_url: str, *, overflow: S3DeadLetterPayloads | None = None) -> None:
        self._client = client
        self._queue_url = queue_url
        self._fifo = queue_url.endswith(".fifo")
        self._overflow = overflow

    def send(self, letters: Sequence[DeadLetter]) -> DeliveryReport:
        failed: dict[str, PueError] = {}
        entries: list[_Entry] = []
        for letter in letters:
            built = self._entry(letter)
            if isinstance(built, PueError):
                failed[letter.letter_id] = built
            else:
                entries.append(built)
        for batch in _batches(entries):
            failed.update(self._send_batch(batch))
        return DeliveryReport(failed)

    def _entry(self, letter: DeadLetter) -> _Entry | PueError:
        attributes = {}
        if letter.reason:
            attributes[REASON_ATTRIBUTE] = {"DataType": "String", "StringValue": letter.reason}
        attributes_size = sum(
            len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
            for name, value in attributes.items()
        )
        body = message_body(letter)
        if len(body.encode()) + attributes_size > SQS_MESSAGE_MAX_BYTES:
            body = message_body(letter, compress=True)
        size = len(body.encode()) + attributes_size
        if size > SQS_MESSAGE_MAX_BYTES:
            # Too large even compressed (a Kinesis record holds up to 1 MiB; random bytes do not compress).
            # With a bucket, the whole record goes to S3 and the message points at it (a failed upload is
            # retried like a failed send). Without one, failing the letter would block the shard until
            # Lambda gives up and then skip the records after it, so keep a prefix, marked with the
            # original size and SHA-256: the whole record stays in the stream until its retention ends.
            if self._overflow is not None:
                try:
                    body = message_body(letter, stored_at=self._overflow.put(letter))
                except PueError as error:
                    return error
            else:
                overhead = len(message_body(letter, keep_bytes=0).encode()) + attributes_size
                body = message_body(letter, keep_bytes=(SQS_MESSAGE_MAX_BYTES - overhead) * 3 // 4)
            size = len(body.encode()) + attributes_size
        entry: dict[str, Any] = {"MessageBody": body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if self._fifo:
            entry["MessageGroupId"] = letter.shard_id
            # A redrive's fresh letter for the same record (attempt 2, 3...) must not be taken for a
            # duplicate of the letter it replaces within the queue's 5-minute deduplication window.
            dedup_key = letter.letter_id if letter.attempt == 1 else f"{letter.letter_id}#{letter.attempt}"
            entry["MessageDeduplicationId"] = hashlib.sha256(dedup_key.encode()).hexdigest()
        return _Entry(letter.letter_id, entry, size)

    def _send_batch(self, batch: Sequence[_Entry]) -> dict[str, PueError]:
        # Entry ids must be unique, short and alphanumeric; letter ids have colons, so use positions.
        by_entry_id = {str(index): item for index, item in enumerate(batch)}
        try:
            response = self._client.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": entry_id, **item.entry} for entry_id, item in by_entry_id.items()],
            )
        except BOTO_ERRORS as error:
            translated = translate_client_error(error, service=SERVICE)
            return {item.letter_id: translated for item in batch}
        failed: dict[str, PueError] = {}
        for failure in response.get("Failed", []):
            item = by_entry_id.get(str(failure.get("Id")))
            if item is None:
                continue  # not one of ours; every entry of ours is checked for an answer below
            code = str(failure.get("Code") or "Unknown")
            error_type = PermanentError if failure.get("SenderFault") else RetryableError
            failed[item.letter_id] = error_type("SendMessageBatch entry failed", service=SERVICE, code=code)
        answered = {str(result["Id"]) for result in response.get("Successful", [])}
        answered.update(str(failure["Id"]) for failure in response.get("Failed", []))
        for entry_id, item in by_entry_id.items():
            if entry_id not in answered:
                failed[item.letter_id] = RetryableError(
                    "SendMessageBatch returned no result for an entry", service=SERVICE, code="NoResult"
                )
        return failed


def _batches(entries: Sequence[_Entry]) -> list[list[_Entry]]:
    """Greedy, order-keeping packing under both the entry count and the total size limits."""
    batches: list[list[_Entry]] = []
    current: list[_Entry] = []
    size = 0
    for entry in entries:
        if current and (len(current) == SQS_BATCH_MAX_ENTRIES or size + entry.size > SQS_MESSAGE_MAX_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
    if current:
        batches.append(current)
    return batches
