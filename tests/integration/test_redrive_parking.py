"""`pue redrive` (issue 21): a letter that keeps failing is parked after --max-attempts instead of being
rewritten forever; an S3 letter whose bytes do not match its SHA-256 is refused; the messages in hand are
kept hidden (ChangeMessageVisibility) while a long discarded batch runs. On moto (SQS, S3, Kinesis)."""

from __future__ import annotations

from typing import Any

from consumers.runners.redrive import Redriver
from consumers.runners.redrive_stats import RedriveOptions
from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads
from destinations.aws.sqs_dead_letters import decode_body, message_body
from tests.fakes import FakeTracker
from tests.integration.test_redrive import (
    BUCKET,
    STREAM_ARN,
    all_messages,
    aws,
    discarded,
    event,
    letter,
    make_pipeline,
    queue_depth,
    redrive,
    send,
    stream_with,
)
from tests.support.recording_client import Recording

__all__ = ["aws"]  # the fixture, shared with test_redrive


def test_a_letter_that_keeps_failing_is_parked_after_three_attempts_and_left_as_it_is(
    aws: dict[str, Any],
) -> None:
    send(aws, message_body(letter(b"{not json", 7)))
    runs = [redrive(aws, FakeTracker())[1] for _ in range(4)]
    assert [r["dead_lettered"] for r in runs] == [1, 1, 0, 0]  # attempts 2 and 3 written, then no more
    assert [r["parked"] for r in runs] == [0, 0, 1, 1]
    assert [r["deleted"] for r in runs] == [1, 1, 0, 0]
    (parked,) = all_messages(aws)  # on the queue, never deleted, visible again after the run
    raw, document = decode_body(parked["Body"])
    assert raw == b"{not json" and document["attempt"] == 3
    assert document["reason"].startswith("invalid JSON")


def test_a_higher_max_attempts_takes_a_parked_letter_again(aws: dict[str, Any]) -> None:
    send(aws, message_body(letter(b"{not json", 7, attempt=3)))
    _, parked = redrive(aws, FakeTracker())
    _, again = redrive(aws, FakeTracker(), max_attempts=5)
    assert (parked["parked"], parked["dead_lettered"]) == (1, 0)
    assert (again["parked"], again["dead_lettered"], again["deleted"]) == (0, 1, 1)
    (fresh,) = all_messages(aws)
    assert decode_body(fresh["Body"])[1]["attempt"] == 4


def test_a_parked_letter_whose_record_now_succeeds_is_still_left_alone(aws: dict[str, Any]) -> None:
    # Parking is the operator's call to lift: a run does not quietly track it because it would pass now.
    send(aws, message_body(letter(event("alice", 1), 1, attempt=3)))
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker, max_attempts=3)
    assert summary["parked"] == 1 and tracker.batches == [] and queue_depth(aws) == (1, 0)


def test_an_s3_letter_whose_bytes_do_not_match_its_sha256_is_refused_and_kept(aws: dict[str, Any]) -> None:
    stored = letter(event("carol", 3), 3)
    body = message_body(stored, stored_at=S3DeadLetterPayloads(aws["s3"], BUCKET).put(stored))
    # The object is replaced after the letter was written: a valid event, not the one the digest names.
    payloads = S3DeadLetterPayloads(aws["s3"], BUCKET)
    payloads.put(letter(event("mallory", 9), 3))
    send(aws, body)
    tracker = FakeTracker()
    _, summary = redrive(aws, tracker, visibility_timeout=600)
    assert tracker.batches == []  # the substituted event is never tracked
    assert summary["refuse_reasons"] == {"record in S3 does not match its SHA-256": 1}
    assert (summary["refused"], summary["deleted"]) == (1, 0)
    assert queue_depth(aws) == (0, 1)  # left on the queue, hidden until its visibility timeout


def test_messages_in_hand_stay_hidden_while_a_long_discarded_batch_runs(aws: dict[str, Any]) -> None:
    sequences = stream_with(aws, [event(f"u{n}", n) for n in range(4)])
    send(aws, discarded(aws, sequences[0], sequences[3]), message_body(letter(event("alice", 9), 9)))
    now = [0.0]

    def slow_page(batch: object) -> None:  # each page of the stream takes 100 s of a 300 s timeout
        now[0] += 100.0

    sqs = Recording(aws["sqs"])
    clients = {**aws, "sqs": sqs}
    pipeline = make_pipeline(aws, FakeTracker(fault=slow_page), None)
    options = RedriveOptions(
        wait_seconds=0, page_size=1, visibility_timeout=300, dead_letter_bucket=BUCKET, stream_arn=STREAM_ARN
    )
    try:
        stats = Redriver(clients.__getitem__, aws["queue"], pipeline, options, clock=lambda: now[0]).run()
    finally:
        pipeline.close()
    extensions = sqs.named("change_message_visibility_batch")
    # Four pages of 100 s: extended once half the timeout (150 s) has passed since the last time, so after
    # the second and the fourth page; both messages in hand each time (the letter waits for the batch),
    # each to a full 300 s again.
    assert len(extensions) == 2
    assert all(len(p["Entries"]) == 2 for p in extensions)
    assert {e["VisibilityTimeout"] for p in extensions for e in p["Entries"]} == {300}
    assert len({e["ReceiptHandle"] for p in extensions for e in p["Entries"]}) == 2
    assert (stats.deleted, stats.stream_records, stats.counts.processed) == (2, 4, 5)
    assert queue_depth(aws) == (0, 0)  # deleted with the receipt handles it kept extending
