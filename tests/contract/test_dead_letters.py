"""DeadLetterSink contract: the local store and Amazon SQS (moto) keep poison records whole, with reasons."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from destinations.aws.sqs_dead_letters import SqsDeadLetterSink, decode_body
from destinations.local import LocalDeadLetterSink, LocalStore
from destinations.ports import DeadLetterSink
from schemas.dead_letter import DeadLetter
from schemas.errors import PermanentError, RetryableError
from schemas.limits import SQS_BATCH_MAX_ENTRIES, SQS_MESSAGE_MAX_BYTES

ARN = "arn:aws:kinesis:us-east-1:111122223333:stream/clickstream"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def letter(
    n: int, raw: bytes | None = None, *, sub: int | None = None, reason: str = "not json"
) -> DeadLetter:
    return DeadLetter(
        raw=raw if raw is not None else b"\x00\xffnot json " + str(n).encode(),
        reason=reason,
        shard_id="shardId-000000000000",
        sequence_number=f"4959{n:052d}",
        sub_sequence_number=sub,
        event_source_arn=ARN,
    )


class DeadLetterHarness(Protocol):
    sink: DeadLetterSink

    def stored(self) -> list[DeadLetter]:
        """Every letter the destination holds, in any order."""


class LocalHarness:
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.sink: DeadLetterSink = LocalDeadLetterSink(store)

    def stored(self) -> list[DeadLetter]:
        return self.store.dead_letters(limit=10_000)


class SqsHarness:
    """A moto queue; ``stored`` drains it and decodes each message back into a DeadLetter."""

    def __init__(self, *, fifo: bool) -> None:
        self.client = boto3.client("sqs", region_name="us-east-1")
        name = "pue-dead-letters.fifo" if fifo else "pue-dead-letters"
        attributes = {"FifoQueue": "true"} if fifo else {}
        self.queue_url = self.client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.sink: DeadLetterSink = SqsDeadLetterSink(self.client, self.queue_url)
        self.drained: list[DeadLetter] = []

    def stored(self) -> list[DeadLetter]:
        while True:
            response = self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            )
            messages = response.get("Messages", [])
            if not messages:
                return list(self.drained)
            for message in messages:
                raw, meta = decode_body(message["Body"])
                assert message["MessageAttributes"]["reason"]["StringValue"] == meta["reason"]
                self.drained.append(
                    DeadLetter(
                        raw,
                        meta["reason"],
                        meta["shardId"],
                        meta["sequenceNumber"],
                        meta["subSequenceNumber"],
                        meta["eventSourceArn"],
                    )
                )
                self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(params=["local", "sqs", "sqs-fifo"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetterHarness]:
    if request.param == "local":
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield LocalHarness(store)
        store.close()
    else:
        request.getfixturevalue("aws")
        yield SqsHarness(fifo=request.param == "sqs-fifo")


def by_id(letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    """Every letter, ordered by id (queues do not keep order); a letter stored twice shows up twice."""
    return sorted(letters, key=lambda letter: letter.letter_id)


def test_raw_bytes_reason_and_origin_are_kept(harness: DeadLetterHarness) -> None:
    letters = [
        letter(1),
        letter(2, raw=bytes(range(256)), sub=3, reason="kpl: bad aggregate"),
        letter(3, raw='{"ünïcode": true}'.encode(), reason="missing userId and anonymousId"),
    ]
    report = harness.sink.send(letters)
    assert report.ok
    assert by_id(harness.stored()) == by_id(letters)


def test_more_letters_than_one_call_takes(harness: DeadLetterHarness) -> None:
    letters = [letter(n) for n in range(SQS_BATCH_MAX_ENTRIES * 2 + 5)]
    assert harness.sink.send(letters).ok
    assert by_id(harness.stored()) == by_id(letters)


def test_nothing_to_send_is_success(harness: DeadLetterHarness) -> None:
    assert harness.sink.send([]).ok
    assert harness.stored() == []


@pytest.mark.parametrize("harness", ["local", "sqs-fifo"], indirect=True)
def test_a_redelivered_letter_is_kept_once(harness: DeadLetterHarness) -> None:
    # A standard queue cannot deduplicate; a FIFO queue does, by the letter id the sink derives its id from.
    assert harness.sink.send([letter(1), letter(2)]).ok
    assert harness.sink.send([letter(2), letter(3)]).ok
    assert sorted(harness.stored(), key=lambda d: d.sequence_number) == [letter(1), letter(2), letter(3)]


@pytest.mark.parametrize("harness", ["sqs", "sqs-fifo"], indirect=True)
def test_a_redriven_letter_with_a_higher_attempt_is_not_taken_for_a_duplicate(
    harness: DeadLetterHarness,
) -> None:
    # pue redrive writes the record again with attempt + 1, then deletes the letter it replaces.
    assert harness.sink.send([letter(1)]).ok
    assert harness.sink.send([dataclasses.replace(letter(1), attempt=2)]).ok
    assert len(harness.stored()) == 2


@pytest.mark.parametrize("harness", ["local", "sqs"], indirect=True)
def test_a_large_record_is_kept_whole(harness: DeadLetterHarness) -> None:
    # 400 KB of JSON-ish text: over the SQS limit as base64, well under it compressed.
    big = letter(7, raw=b'{"event": "Order Completed", "padding": "' + b"ab" * 200_000 + b'"}')
    assert harness.sink.send([big]).ok
    assert harness.stored() == [big]


# -- SQS specifics -----------------------------------------------------------------------------------


def stubbed_sqs() -> tuple[Any, Stubber]:
    client = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/111122223333/pue-dead-letters"


def accepted(count: int) -> dict[str, Any]:
    """A SendMessageBatch answer accepting entries "0".."count-1"."""
    return {
        "Successful": [{"Id": str(n), "MessageId": f"m{n}", "MD5OfMessageBody": "x"} for n in range(count)],
        "Failed": [],
    }


def test_failed_entries_are_reported_per_letter() -> None:
    client, stubber = stubbed_sqs()
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
            "Failed": [
                {"Id": "1", "SenderFault": True, "Code": "InvalidMessageContents"},
                {"Id": "2", "SenderFault": False, "Code": "InternalError"},
            ],
        },
        {"QueueUrl": QUEUE_URL, "Entries": ANY},
    )
    report = SqsDeadLetterSink(client, QUEUE_URL).send([letter(0), letter(1), letter(2), letter(3)])
    stubber.assert_no_pending_responses()
    failed = report.failed
    assert set(failed) == {letter(1).letter_id, letter(2).letter_id, letter(3).letter_id}
    assert isinstance(failed[letter(1).letter_id], PermanentError)
    assert failed[letter(1).letter_id].code == "InvalidMessageContents"
    assert isinstance(failed[letter(2).letter_id], RetryableError)
    assert failed[letter(3).letter_id].code == "NoResult", "an entry with no answer must not pass as sent"


def test_a_throttled_call_fails_its_letters_only() -> None:
    client, stubber = stubbed_sqs()
    stubber.add_response("send_message_batch", accepted(10))
    stubber.add_client_error("send_message_batch", "RequestThrottled", http_status_code=403)
    letters = [letter(n) for n in range(12)]
    report = SqsDeadLetterSink(client, QUEUE_URL).send(letters)
    assert set(report.failed) == {letters[10].letter_id, letters[11].letter_id}
    assert all(isinstance(error, RetryableError) for error in report.failed.values())


def test_batches_respect_the_total_size_limit() -> None:
    client, stubber = stubbed_sqs()
    sent: list[list[dict[str, Any]]] = []
    client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: sent.append(params["Entries"])
    )
    for _ in range(3):
        stubber.add_response("send_message_batch", accepted(1))
    # ~100 KB of incompressible bytes each (~136 KB as base64): two never fit in one 256 KiB call.
    rng = random.Random(7)
    letters = [letter(n, raw=rng.randbytes(100_000)) for n in range(3)]
    assert SqsDeadLetterSink(client, QUEUE_URL).send(letters).ok
    assert [len(entries) for entries in sent] == [1, 1, 1]
    for entries in sent:
        assert sum(len(e["MessageBody"].encode()) for e in entries) <= SQS_MESSAGE_MAX_BYTES


def test_a_letter_too_large_even_compressed_keeps_a_marked_prefix() -> None:
    client, stubber = stubbed_sqs()
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: sent.extend(params["Entries"])
    )
    stubber.add_response("send_message_batch", accepted(1))
    stubber.add_response("send_message_batch", accepted(1))
    raw = os.urandom(1024 * 1024)  # a full-size Kinesis record of random bytes: gzip cannot shrink it
    huge = letter(1, raw=raw)
    report = SqsDeadLetterSink(client, QUEUE_URL).send([huge, letter(2)])
    stubber.assert_no_pending_responses()
    assert report.ok  # sent, not failed: a failure would block the shard and then skip what follows

    body, reason = sent[0]["MessageBody"], sent[0]["MessageAttributes"]["reason"]["StringValue"]
    assert len(body.encode()) + len(reason) < SQS_MESSAGE_MAX_BYTES
    data, document = decode_body(body)
    assert document["truncated"] is True and document["originalBytes"] == len(raw)
    assert document["sha256"] == hashlib.sha256(raw).hexdigest()
    assert len(data) > SQS_MESSAGE_MAX_BYTES // 2 and raw.startswith(data)
    assert (document["shardId"], document["sequenceNumber"]) == (huge.shard_id, huge.sequence_number)


def test_fifo_entries_carry_group_and_deduplication_ids() -> None:
    client, stubber = stubbed_sqs()
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: sent.extend(params["Entries"])
    )
    stubber.add_response("send_message_batch", accepted(2))
    stubber.add_response("send_message_batch", accepted(1))
    sink = SqsDeadLetterSink(client, QUEUE_URL + ".fifo")
    assert sink.send([letter(1), letter(2, sub=0)]).ok
    assert sink.send([letter(1)]).ok
    assert [e["MessageGroupId"] for e in sent] == ["shardId-000000000000"] * 3
    dedupe = [e["MessageDeduplicationId"] for e in sent]
    assert dedupe[0] == dedupe[2] != dedupe[1]
    assert all(len(d) <= 128 for d in dedupe)
