"""`pue redrive` on moto (SQS, S3, Kinesis): dead letters (plain, gzipped, in S3) and Lambda's discarded
batches run through the pipeline again; a message is deleted only once its records ended processed,
filtered or dead-lettered again; a failed record keeps its message; a dry run changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from consumers.runners.redrive import Redriver
from consumers.runners.redrive_messages import DiscardedBatch, parse_message
from consumers.runners.redrive_stats import RedriveOptions
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads, payload_key
from destinations.aws.sqs_dead_letters import SqsDeadLetterSink, decode_body, message_body
from destinations.ports import DeadLetterSink
from schemas.dead_letter import DeadLetter
from schemas.errors import RetryableError
from tests.factories import segment_track
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "lambda"
SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/segment"
BUCKET = "pue-dead-letters"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """In-process moto clients; the queue and bucket as the template declares them."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_SQS",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_KINESIS",
        ):
            patch.delenv(name, raising=False)
        clients = {
            service: boto3.client(
                service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
            )
            for service in ("sqs", "s3", "kinesis")
        }
        clients["queue"] = clients["sqs"].create_queue(QueueName="pue-dlq")["QueueUrl"]
        clients["s3"].create_bucket(Bucket=BUCKET)
        yield clients


def event(user: str, n: int) -> bytes:
    message = segment_track(
        "Product Viewed", user_id=user, properties={"product_id": f"p{n}"}, message_id=f"m{n}"
    )
    return json.dumps(message).encode()


def letter(raw: bytes, sequence: int, **fields: Any) -> DeadLetter:
    return DeadLetter(
        raw=raw,
        reason="rejected by event tracker: PutEvents failed [InvalidInput]",
        shard_id=SHARD,
        sequence_number=str(sequence),
        event_source_arn=STREAM_ARN,
        **fields,
    )


def throttled_for(user: str) -> Any:
    """A tracker fault: PutEvents throttled for ``user``'s events, as Personalize answers under load."""
    throttled = RetryableError("throttled", service="personalize", code="ThrottlingException")
    return lambda batch: throttled if batch.interactions[0].user_id == user else None


def make_pipeline(aws: dict[str, Any], tracker: FakeTracker, dead_letters: DeadLetterSink | None) -> Pipeline:
    # The deployment's dead-letter sink, on the queue being redriven (as PUE_DEAD_LETTER_QUEUE_URL is).
    if dead_letters is None:
        dead_letters = SqsDeadLetterSink(
            aws["sqs"], aws["queue"], overflow=S3DeadLetterPayloads(aws["s3"], BUCKET)
        )
    return Pipeline(
        tracker=tracker,
        recommender=FakeRecommender(),
        sinks=[FakeSink()],
        dead_letters=dead_letters,
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5),
        max_workers=2,
    )


def redrive(
    aws: dict[str, Any], tracker: FakeTracker, dead_letters: DeadLetterSink | None = None, **options: Any
) -> tuple[Redriver, dict[str, object]]:
    pipeline = make_pipeline(aws, tracker, dead_letters)
    # The stack's own bucket and stream, as an operator configures them.
    options.setdefault("dead_letter_bucket", BUCKET)
    options.setdefault("stream_arn", STREAM_ARN)
    redriver = Redriver(
        lambda service: aws[service],
        aws["queue"],
        pipeline,
        RedriveOptions(wait_seconds=0, **options),
        pause=lambda s: None,
    )
    try:
        stats = redriver.run()
    finally:
        pipeline.close()
    return redriver, stats.summary(redriver.options.dry_run)


def send(aws: dict[str, Any], *bodies: str) -> None:
    for body in bodies:
        aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody=body)


def queue_depth(aws: dict[str, Any]) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attributes = aws["sqs"].get_queue_attributes(
        QueueUrl=aws["queue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def all_messages(aws: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages"):
        found.extend(batch)
    return found


def test_plain_gzipped_and_s3_letters_are_tracked_and_deleted(aws: dict[str, Any]) -> None:
    stored = letter(event("carol", 3), 3)
    location = S3DeadLetterPayloads(aws["s3"], BUCKET).put(stored)  # as the sink stores it
    send(
        aws,
        message_body(letter(event("alice", 1), 1)),
        message_body(letter(event("bob", 2), 2), compress=True),
        message_body(stored, stored_at=location),
    )
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker)
    assert sorted(str(i.user_id) for b in tracker.batches for i in b.interactions) == [
        "alice",
        "bob",
        "carol",
    ]
    assert summary["messages"] == 3 and summary["deleted"] == 3 and summary["dead_letters"] == 3
    assert summary["processed"] == 3 and summary["kept"] == 0 and summary["skipped"] == 0
    assert queue_depth(aws) == (0, 0)


def test_a_record_dead_lettered_again_is_a_fresh_letter_with_the_attempt_count(aws: dict[str, Any]) -> None:
    send(aws, message_body(letter(b"{not json", 7, sub_sequence_number=2)))
    _, first = redrive(aws, FakeTracker())
    assert first["messages"] == 1 and first["dead_lettered"] == 1 and first["deleted"] == 1
    (fresh,) = all_messages(aws)  # the original is gone; the run did not take its own letter again
    raw, document = decode_body(fresh["Body"])
    assert raw == b"{not json" and document["attempt"] == 2
    assert (document["shardId"], document["sequenceNumber"], document["subSequenceNumber"]) == (SHARD, "7", 2)
    assert document["reason"].startswith("invalid JSON")
    aws["sqs"].change_message_visibility(
        QueueUrl=aws["queue"], ReceiptHandle=fresh["ReceiptHandle"], VisibilityTimeout=0
    )
    _, second = redrive(aws, FakeTracker())
    assert second["dead_lettered"] == 1
    (again,) = all_messages(aws)
    assert decode_body(again["Body"])[1]["attempt"] == 3


def test_a_record_that_fails_for_retry_keeps_its_message_on_the_queue(aws: dict[str, Any]) -> None:
    send(aws, message_body(letter(event("alice", 1), 1)), message_body(letter(event("bob", 2), 2)))
    tracker = FakeTracker(fault=throttled_for("bob"))
    _, summary = redrive(aws, tracker, visibility_timeout=600)
    assert summary["deleted"] == 1 and summary["kept"] == 1 and summary["failed"] == 1
    assert [i.user_id for b in tracker.batches for i in b.interactions] == ["alice"]
    assert queue_depth(aws) == (0, 1)  # bob's message: hidden until its visibility timeout ends, not deleted


def test_a_poison_record_whose_fresh_letter_cannot_be_written_keeps_its_message(aws: dict[str, Any]) -> None:
    send(aws, message_body(letter(b"{not json", 7)))
    down = FakeDeadLetters(
        error=RetryableError("dead-letter queue down", service="sqs", code="ServiceUnavailable")
    )
    _, summary = redrive(aws, FakeTracker(), down, visibility_timeout=600)
    assert (summary["failed"], summary["kept"], summary["deleted"]) == (1, 1, 0)
    assert queue_depth(aws) == (0, 1)


def test_a_dry_run_tracks_writes_and_deletes_nothing(aws: dict[str, Any]) -> None:
    send(
        aws,
        message_body(letter(event("alice", 1), 1)),
        message_body(letter(b"\xff\xfe", 2)),
        message_body(letter(json.dumps({"type": "identify", "userId": "u"}).encode(), 3)),
    )
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker, dry_run=True)
    assert summary["would"] == {"processed": 1, "dead_lettered": 1, "filtered": 1}
    assert summary["deleted"] == 0 and tracker.batches == []
    assert queue_depth(aws) == (3, 0)  # released at once, nothing new written
    assert [decode_body(m["Body"])[1]["attempt"] for m in all_messages(aws)] == [1, 1, 1]


def test_the_limit_bounds_the_messages_taken(aws: dict[str, Any]) -> None:
    send(aws, *(message_body(letter(event(f"u{n}", n), n)) for n in range(5)))
    _, summary = redrive(aws, FakeTracker(), limit=2)
    assert summary["messages"] == 2 and summary["deleted"] == 2
    assert queue_depth(aws) == (3, 0)


def test_messages_that_cannot_be_redriven_stay_with_their_reason(aws: dict[str, Any]) -> None:
    truncated = json.loads(message_body(letter(event("alice", 1), 1), keep_bytes=10))
    missing = message_body(letter(b"", 2), stored_at=f"s3://{BUCKET}/{payload_key(letter(b'', 2))}")
    send(aws, "hello", json.dumps(truncated), missing, json.dumps({"some": "thing"}))
    _, summary = redrive(aws, FakeTracker())
    assert summary["skipped"] == 4 and summary["deleted"] == 0
    assert summary["skip_reasons"] == {
        "not JSON: not a pue dead letter or a Lambda invocation record": 1,
        "truncated dead letter: the whole record was too large to keep": 1,
        "record not readable in S3: NoSuchKey": 1,
        "neither a pue dead letter nor a Lambda invocation record": 1,
    }
    assert queue_depth(aws) == (0, 4)


# Lambda's discarded batches (the event source mapping's on-failure destination)


def golden_discarded_batch() -> dict[str, Any]:
    """AWS's sample of the message (docs: "Retain discarded batch records for a Kinesis Data Streams event
    source in Lambda"), as Lambda writes it to an SQS on-failure destination."""
    return dict(json.loads((SAMPLES / "kinesis_on_failure_record.json").read_text()))


def test_awss_sample_of_a_discarded_batch_is_understood() -> None:
    parsed = parse_message(json.dumps(golden_discarded_batch()))
    assert parsed == DiscardedBatch(
        shard_id="shardId-000000000001",
        start_sequence="49601189658422359378836298521827638475320189012309704722",
        end_sequence="49601189658422359378836298522902373528957594348623495186",
        stream_arn="arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
    )
    assert parsed.stream_name == "mystream"


def stream_with(aws: dict[str, Any], payloads: list[bytes]) -> list[str]:
    aws["kinesis"].create_stream(StreamName="segment", ShardCount=1)
    response = aws["kinesis"].put_records(
        StreamName="segment", Records=[{"Data": p, "PartitionKey": "k"} for p in payloads]
    )
    return [r["SequenceNumber"] for r in response["Records"]]


def discarded(aws: dict[str, Any], start: str, end: str) -> str:
    sample = golden_discarded_batch()
    arn = aws["kinesis"].describe_stream_summary(StreamName="segment")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    sample["KinesisBatchInfo"].update(
        shardId=SHARD, startSequenceNumber=start, endSequenceNumber=end, streamArn=arn
    )
    return json.dumps(sample)


def test_a_discarded_batch_is_read_back_from_the_stream_and_run_through_the_pipeline(
    aws: dict[str, Any],
) -> None:
    payloads = [event(f"u{n}", n) for n in range(6)]
    payloads[3] = b"not json"
    sequences = stream_with(aws, payloads)
    send(aws, discarded(aws, sequences[1], sequences[4]))  # records 1..4 only
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker, page_size=2)
    assert sorted(str(i.user_id) for b in tracker.batches for i in b.interactions) == ["u1", "u2", "u4"]
    assert summary["discarded_batches"] == 1 and summary["stream_records"] == 4
    assert (summary["processed"], summary["dead_lettered"], summary["deleted"]) == (3, 1, 1)
    (letter_message,) = all_messages(aws)  # the batch message is gone; the poison record is a first letter
    raw, document = decode_body(letter_message["Body"])
    assert raw == b"not json" and document["sequenceNumber"] == sequences[3] and document["attempt"] == 1


def test_a_discarded_batch_with_a_failed_record_stays_on_the_queue(aws: dict[str, Any]) -> None:
    sequences = stream_with(aws, [event("alice", 1), event("bob", 2)])
    send(aws, discarded(aws, sequences[0], sequences[1]))
    tracker = FakeTracker(fault=throttled_for("bob"))
    _, summary = redrive(aws, tracker)
    assert summary["kept"] == 1 and summary["deleted"] == 0 and summary["failed"] == 1
    assert queue_depth(aws) == (0, 1)


def test_a_dry_run_of_a_discarded_batch_reads_and_classifies_only(aws: dict[str, Any]) -> None:
    sequences = stream_with(aws, [event("alice", 1), b"[]"])
    send(aws, discarded(aws, sequences[0], sequences[1]))
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker, dry_run=True)
    assert summary["would"] == {"processed": 1, "dead_lettered": 1} and tracker.batches == []
    assert queue_depth(aws) == (1, 0)


def test_a_discarded_batch_whose_records_left_the_stream_stays_with_its_reason(aws: dict[str, Any]) -> None:
    sequences = stream_with(aws, [event("alice", 1), event("bob", 2)])
    beyond = str(int(sequences[-1]) + 1000)
    # Records before the first one the stream holds (trimmed), and a range the stream holds nothing of.
    send(aws, discarded(aws, "0", sequences[0]), discarded(aws, beyond, beyond))
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker)
    assert summary["skip_reasons"] == {"records no longer in the stream (retention)": 2}
    assert summary["deleted"] == 0 and queue_depth(aws) == (0, 2)
