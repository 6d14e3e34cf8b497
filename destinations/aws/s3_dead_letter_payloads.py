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
        sub = "" if letter.sub_sequence_number is None else f"-{letter.sub_sequence_number}"
        return f"{self._prefix}{letter.shard_id}/{letter.sequence_number}{sub}.bin"

    def put(self, letter: DeadLetter) -> str:
        key = self.key_for(letter)
        with translated(SERVICE):
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=letter.raw, ContentType="application/octet-stream"
            )
        return f"s3://{self._bucket}/{key}"


def read_payload(client: Any, location: str) -> bytes:
    """The record ``put`` stored at ``location`` (``s3://bucket/key``), for ``pue redrive``.

    GetObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    """
    bucket, _, key = location.removeprefix("s3://").partition("/")
    with translated(SERVICE):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        data: bytes = body.read()
    return data
