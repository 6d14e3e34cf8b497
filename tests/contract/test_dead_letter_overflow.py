"""Dead letters too large for SQS even compressed: with PUE_DEAD_LETTER_BUCKET the whole record goes to S3
(moto) and the message points at it; a failed upload fails the letter for retry, never drops it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads
from destinations.aws.sqs_dead_letters import SqsDeadLetterSink, decode_body
from schemas.errors import RetryableError
from schemas.limits import SQS_MESSAGE_MAX_BYTES
from tests.contract.test_dead_letters import QUEUE_URL, accepted, letter, stubbed_sqs
from tests.support.moto_clients import moto_client

BUCKET = "pue-dead-letters"


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto_client("s3") as client:
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_a_record_too_large_for_sqs_is_kept_whole_in_s3(s3: Any) -> None:
    sqs, stubber = stubbed_sqs()
    sent: list[dict[str, Any]] = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: sent.extend(params["Entries"])
    )
    stubber.add_response("send_message_batch", accepted(2))
    raw = os.urandom(1024 * 1024)  # random bytes: gzip cannot bring them under 256 KiB
    huge, small = letter(1, raw=raw), letter(2)
    sink = SqsDeadLetterSink(sqs, QUEUE_URL, overflow=S3DeadLetterPayloads(s3, BUCKET))
    assert sink.send([huge, small]).ok
    stubber.assert_no_pending_responses()

    pointer = next(e for e in sent if '"encoding":"s3"' in e["MessageBody"])
    assert len(pointer["MessageBody"].encode()) < SQS_MESSAGE_MAX_BYTES // 100  # a pointer, not the payload
    data, document = decode_body(pointer["MessageBody"])
    assert data == b"" and document["originalBytes"] == len(raw)
    assert document["sha256"] == hashlib.sha256(raw).hexdigest()
    bucket, _, key = document["location"].removeprefix("s3://").partition("/")
    assert bucket == BUCKET and s3.get_object(Bucket=bucket, Key=key)["Body"].read() == raw
    assert (document["shardId"], document["sequenceNumber"]) == (huge.shard_id, huge.sequence_number)


def test_a_redelivered_letter_overwrites_the_same_object(s3: Any) -> None:
    payloads = S3DeadLetterPayloads(s3, BUCKET)
    huge = letter(1, raw=os.urandom(300_000))
    assert payloads.put(huge) == payloads.put(huge)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1


def test_a_failed_upload_fails_the_letter_for_retry(s3: Any) -> None:
    sqs, stubber = stubbed_sqs()
    stubber.add_response("send_message_batch", accepted(1))
    huge, small = letter(1, raw=os.urandom(300_000)), letter(2)
    s3_down = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # nothing listens on the discard port
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    sink = SqsDeadLetterSink(sqs, QUEUE_URL, overflow=S3DeadLetterPayloads(s3_down, BUCKET))
    report = sink.send([huge, small])
    stubber.assert_no_pending_responses()
    assert set(report.failed) == {huge.letter_id}
    assert isinstance(report.failed[huge.letter_id], RetryableError)
