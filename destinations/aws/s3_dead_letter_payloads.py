"""Whole records for dead letters too large for an SQS message, kept in Amazon S3.

The SQS extended client pattern: the payload goes to S3, the message carries a pointer. Only letters over
the SQS limit even after gzip take this path (random bytes near Kinesis's 1 MiB record limit); the key is
derived from the record's shard and sequence number, so a redelivered batch overwrites the same object.

PutObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
"""

from __future__ import annotations

from typing import Any, Final

from destinations.aws.errors import translated
from schemas.dead_letter import DeadLetter
from schemas.errors import PermanentError

SERVICE: Final = "s3"
DEFAULT_PREFIX: Final = "dead-letters/"


class S3DeadLetterPayloads:
    """``put(letter)`` stores the raw record and returns its ``s3://`` location; errors leave as
    ``PueError`` (throttling and 5xx retryable), so the letter is retried rather than dropped."""

    def __init__(self, client: Any, bucket: str, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    def key_for(self, letter: DeadLetter) -> str:
        return payload_key(letter, self._prefix)

    def put(self, letter: DeadLetter) -> str:
        key = self.key_for(letter)
        with translated(SERVICE):
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=letter.raw, ContentType="application/octet-stream"
            )
        return f"s3://{self._bucket}/{key}"


def payload_key(letter: DeadLetter, prefix: str = DEFAULT_PREFIX) -> str:
    """Where ``put`` stores ``letter``'s record: derived from its shard and sequence numbers only."""
    sub = "" if letter.sub_sequence_number is None else f"-{letter.sub_sequence_number}"
    return f"{prefix}{letter.shard_id}/{letter.sequence_number}{sub}.bin"


def read_payload(client: Any, location: str, max_bytes: int) -> bytes:
    """The record ``put`` stored at ``location`` (``s3://bucket/key``), for ``pue redrive``: at most
    ``max_bytes``, or ``PermanentError`` (code ``TooLarge``) before more is read, whatever the object holds.

    GetObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    """
    bucket, _, key = location.removeprefix("s3://").partition("/")
    with translated(SERVICE):
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            if int(response.get("ContentLength") or 0) > max_bytes:
                raise _too_large(max_bytes)
            data: bytes = body.read(max_bytes + 1)  # one byte more tells a longer body apart
        finally:
            body.close()
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _too_large(max_bytes: int) -> PermanentError:
    return PermanentError(f"object over {max_bytes} bytes", service=SERVICE, code="TooLarge")
