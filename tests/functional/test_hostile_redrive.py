"""Issue 23 item 4: ``pue redrive`` is no confused deputy. It reads with the stack's role, so a message on
the queue must not choose what it reads or how much: an S3 letter is read only at the key pue's own sink
gives that record in the configured dead-letter bucket, with its SHA-256, at most 1 MiB; a gzipped letter is
inflated in bounded steps; a discarded batch is read only from the configured stream. What is refused stays
on the queue with its reason, never deleted, and nothing of it is tracked or stored. On moto (SQS, S3,
Kinesis); the S3 and Kinesis clients record every call the redrive makes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tracemalloc
import zlib
from typing import Any, Final

from consumers.runners.redrive import Redriver
from consumers.runners.redrive_messages import Refused, parse_message
from consumers.runners.redrive_stats import RedriveOptions, RedriveStats
from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads, payload_key
from destinations.aws.sqs_dead_letters import message_body
from schemas.limits import DEAD_LETTER_RECORD_MAX_BYTES, REDRIVE_MESSAGE_MAX_BYTES, SQS_MESSAGE_MAX_BYTES
from tests.fakes import FakeDeadLetters, FakeTracker
from tests.integration.test_redrive import (
    BUCKET,
    SHARD,
    STREAM_ARN,
    aws,
    discarded,
    event,
    letter,
    make_pipeline,
    queue_depth,
    send,
    stream_with,
)
from tests.support.recording_client import Recording

__all__ = ["aws"]  # the fixture, shared with tests/integration/test_redrive.py

BOMB_BYTES: Final = 199_000_000  # the letter: ~257 KB in the message, 199 MB inflated
MEMORY_LIMIT: Final = 32 * 1024 * 1024  # Python allocations during a run: far below one inflated bomb


def run(
    aws: dict[str, Any], **options: Any
) -> tuple[RedriveStats, FakeTracker, FakeDeadLetters, dict[str, Any]]:
    """One redrive of the queue with the stack's bucket and stream configured (unless ``options`` say
    otherwise); the tracker and dead-letter sink it ran, and the recording S3 and Kinesis clients."""
    tracker, letters = FakeTracker(), FakeDeadLetters()
    clients = {**aws, "s3": Recording(aws["s3"]), "kinesis": Recording(aws["kinesis"])}
    pipeline = make_pipeline(aws, tracker, letters)
    defaults = {"dead_letter_bucket": BUCKET, "stream_arn": STREAM_ARN, "visibility_timeout": 600}
    settings = RedriveOptions(wait_seconds=0, **{**defaults, **options})
    try:
        stats = Redriver(clients.__getitem__, aws["queue"], pipeline, settings, pause=lambda s: None).run()
    finally:
        pipeline.close()
    return stats, tracker, letters, clients


def assert_refused_and_kept(stats: RedriveStats, reason: str, aws: dict[str, Any], kept: int = 1) -> None:
    assert stats.refuse_reasons == {reason: kept}
    assert (stats.refused, stats.deleted, stats.counts.processed, stats.counts.dead_lettered) == (
        kept,
        0,
        0,
        0,
    )
    assert queue_depth(aws) == (0, kept)  # still on the queue (hidden until its visibility timeout)


def s3_letter_at(aws: dict[str, Any], bucket: str, key: str, raw: bytes, sequence: int = 3) -> str:
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=raw)
    return message_body(letter(raw, sequence), stored_at=f"s3://{bucket}/{key}")


def test_a_letter_pointing_at_another_bucket_is_refused_and_never_read(aws: dict[str, Any]) -> None:
    aws["s3"].create_bucket(Bucket="someone-elses-bucket")
    valid = event("mallory", 1)  # a valid event: before the fix it was tracked with the stack's role
    send(aws, s3_letter_at(aws, "someone-elses-bucket", payload_key(letter(valid, 3)), valid))
    stats, tracker, letters, clients = run(aws)
    assert tracker.batches == [] and letters.letters == []
    assert clients["s3"].calls == []  # not even fetched
    assert_refused_and_kept(stats, "dead letter in S3 outside the dead-letter bucket's own keys", aws)


def test_a_letter_pointing_elsewhere_in_the_stacks_own_bucket_is_refused(aws: dict[str, Any]) -> None:
    valid = event("mallory", 1)
    send(aws, s3_letter_at(aws, BUCKET, "exports/users.json", valid))  # the right bucket, not pue's key
    stats, tracker, _, clients = run(aws)
    assert tracker.batches == [] and clients["s3"].calls == []
    assert_refused_and_kept(stats, "dead letter in S3 outside the dead-letter bucket's own keys", aws)


def test_without_a_configured_bucket_s3_letters_are_refused(aws: dict[str, Any]) -> None:
    stored = letter(event("carol", 3), 3)
    send(aws, message_body(stored, stored_at=S3DeadLetterPayloads(aws["s3"], BUCKET).put(stored)))
    stats, tracker, _, clients = run(aws, dead_letter_bucket=None)
    assert tracker.batches == [] and clients["s3"].calls == []
    assert_refused_and_kept(stats, "dead letter in S3, but no dead-letter bucket is configured", aws)


def test_an_s3_letter_without_its_sha256_is_refused(aws: dict[str, Any]) -> None:
    stored = letter(event("carol", 3), 3)
    document = json.loads(message_body(stored, stored_at=S3DeadLetterPayloads(aws["s3"], BUCKET).put(stored)))
    del document["sha256"]
    send(aws, json.dumps(document))
    stats, tracker, _, clients = run(aws)
    assert tracker.batches == [] and clients["s3"].calls == []
    assert_refused_and_kept(stats, "dead letter in S3 without its SHA-256", aws)


def bomb() -> bytes:
    """199 MB of zeros gzipped (~190 KB), made in steps: the test never holds the inflated bytes."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1_000_000)
    parts = [deflater.compress(chunk) for _ in range(BOMB_BYTES // len(chunk))]
    return b"".join([*parts, deflater.flush()])


def test_a_258_kb_gzip_that_expands_to_199_mb_is_refused_in_bounded_memory(aws: dict[str, Any]) -> None:
    document = json.loads(message_body(letter(b"", 5), compress=True))
    document["data"] = base64.b64encode(bomb()).decode()
    body = json.dumps(document)
    assert 250_000 < len(body) <= SQS_MESSAGE_MAX_BYTES  # the issue's ~258 KB letter, a valid SQS message
    send(aws, body)
    tracemalloc.start()
    try:
        stats, tracker, letters, _ = run(aws)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, peak  # inflating it whole would take 199 MB
    assert tracker.batches == [] and letters.letters == []  # no 199 MB letter stored again
    limit = DEAD_LETTER_RECORD_MAX_BYTES
    assert_refused_and_kept(stats, f"gzipped dead letter expands past {limit} bytes", aws)


def test_a_pointer_to_a_huge_object_is_refused_without_reading_it(aws: dict[str, Any]) -> None:
    huge = letter(b"", 3)
    key = payload_key(huge)  # where pue would have put it: only the size gives it away
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=b"{" + bytes(8 * 1024 * 1024))
    document = json.loads(message_body(huge, stored_at=f"s3://{BUCKET}/{key}"))
    document["originalBytes"] = 100  # the message lies about the size; the object's own length decides
    send(aws, json.dumps(document))
    stats, tracker, _, clients = run(aws)
    assert tracker.batches == []
    assert [name for name, _ in clients["s3"].calls] == ["get_object"]
    assert clients["s3"].read == 0  # refused on its length, before a byte of the body
    assert_refused_and_kept(stats, f"record in S3 over {DEAD_LETTER_RECORD_MAX_BYTES} bytes", aws)


def test_a_letter_claiming_a_huge_object_is_refused_before_any_read(aws: dict[str, Any]) -> None:
    stored = letter(event("carol", 3), 3)
    document = json.loads(message_body(stored, stored_at=S3DeadLetterPayloads(aws["s3"], BUCKET).put(stored)))
    document["originalBytes"] = 150 * 1024 * 1024
    send(aws, json.dumps(document))
    stats, _, _, clients = run(aws)
    assert clients["s3"].calls == []
    reason = f"dead letter in S3 of no size or over {DEAD_LETTER_RECORD_MAX_BYTES} bytes"
    assert_refused_and_kept(stats, reason, aws)


def test_a_discarded_batch_of_another_stream_is_refused_and_the_stream_never_read(
    aws: dict[str, Any],
) -> None:
    sequences = stream_with(aws, [event("u1", 1), event("u2", 2)])
    other = json.loads(discarded(aws, sequences[0], sequences[1]))
    other["KinesisBatchInfo"]["streamArn"] = STREAM_ARN.replace("stream/segment", "stream/elsewhere")
    send(aws, json.dumps(other))
    stats, tracker, _, clients = run(aws)
    assert tracker.batches == [] and clients["kinesis"].calls == []
    assert_refused_and_kept(stats, "discarded batch of another stream than the configured one", aws)


def test_without_a_configured_stream_discarded_batches_are_refused(aws: dict[str, Any]) -> None:
    sequences = stream_with(aws, [event("u1", 1)])
    send(aws, discarded(aws, sequences[0], sequences[0]))
    stats, tracker, _, clients = run(aws, stream_arn=None)
    assert tracker.batches == [] and clients["kinesis"].calls == []
    assert_refused_and_kept(stats, "discarded batch, but no stream is configured (--stream-arn)", aws)


def test_the_stacks_own_letters_and_batches_still_go_through(aws: dict[str, Any]) -> None:
    stored = letter(event("carol", 3), 3)
    sequences = stream_with(aws, [event("u1", 1)])
    send(
        aws,
        message_body(stored, stored_at=S3DeadLetterPayloads(aws["s3"], BUCKET).put(stored)),
        discarded(aws, sequences[0], sequences[0]),
    )
    stats, tracker, _, _ = run(aws)
    assert sorted(str(i.user_id) for b in tracker.batches for i in b.interactions) == ["carol", "u1"]
    assert (stats.refused, stats.deleted) == (0, 2) and queue_depth(aws) == (0, 0)


def test_a_body_over_what_pue_writes_is_refused_unparsed() -> None:
    body = json.dumps({"encoding": "base64", "data": "A" * REDRIVE_MESSAGE_MAX_BYTES, "shardId": SHARD})
    assert parse_message(body) == Refused(
        f"message over {REDRIVE_MESSAGE_MAX_BYTES} bytes: larger than pue writes"
    )


def test_the_sha256_of_an_s3_letter_names_the_bytes_read() -> None:
    raw = event("carol", 3)
    document = json.loads(
        message_body(letter(raw, 3), stored_at=f"s3://{BUCKET}/{payload_key(letter(raw, 3))}")
    )
    assert document["sha256"] == hashlib.sha256(raw).hexdigest()  # what the redrive compares against
