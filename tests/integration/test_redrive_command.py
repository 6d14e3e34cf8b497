"""`pue redrive` as a user runs it: against SQS at 127.0.0.1 (moto's server), its summary, its progress
only on a terminal, its help, and clear errors (exit 2) for bad arguments."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from consumers.cli import main
from consumers.cli.redrive import terminal_progress
from consumers.runners.redrive_stats import RedriveStats
from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads
from destinations.aws.sqs_dead_letters import message_body
from destinations.local.store import LocalStore
from schemas.dead_letter import DeadLetter
from tests.factories import segment_track


def test_redrive_runs_a_letter_into_the_local_backend_and_prints_the_summary_last(
    moto_endpoint: str, aws_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"dlq-{tmp_path.name[-8:]}")["QueueUrl"]
    message = segment_track(
        "Product Viewed", user_id="alice", properties={"product_id": "p1"}, message_id="m1"
    )
    letter = DeadLetter(json.dumps(message).encode(), "rejected", "shardId-000000000000", "1")
    sqs.send_message(QueueUrl=url, MessageBody=message_body(letter))
    argv = ["redrive", "--queue", url, "--endpoint-url", moto_endpoint, "--region", "us-east-1"]
    argv += ["--backend", "local", "--state", str(tmp_path), "--wait-seconds", "0"]

    assert main(argv) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["messages"], summary["processed"], summary["deleted"], summary["dry_run"]) == (
        1,
        1,
        1,
        False,
    )
    assert "\r" not in err  # not a terminal: no progress line
    with LocalStore.in_state_dir(tmp_path) as store:
        assert store.interaction_count() == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_s3_letters_are_read_only_from_the_bucket_given_to_the_command(
    moto_endpoint: str,
    aws_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"dlq-s3-{tmp_path.name[-8:]}")["QueueUrl"]
    bucket = f"pue-dead-letters-{tmp_path.name[-8:]}".lower().replace("_", "-")
    s3.create_bucket(Bucket=bucket)
    message = segment_track(
        "Product Viewed", user_id="carol", properties={"product_id": "p1"}, message_id="m3"
    )
    letter = DeadLetter(json.dumps(message).encode(), "rejected", "shardId-000000000000", "3")
    sqs.send_message(
        QueueUrl=url, MessageBody=message_body(letter, stored_at=S3DeadLetterPayloads(s3, bucket).put(letter))
    )
    monkeypatch.delenv("PUE_DEAD_LETTER_BUCKET", raising=False)
    argv = ["redrive", "--queue", url, "--endpoint-url", moto_endpoint, "--region", "us-east-1"]
    argv += [
        "--backend",
        "local",
        "--state",
        str(tmp_path),
        "--wait-seconds",
        "0",
        "--visibility-timeout",
        "1",
    ]

    assert main(argv) == 0  # no bucket configured: refused, left on the queue
    refused = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (refused["refused"], refused["deleted"], refused["processed"]) == (1, 0, 0)
    time.sleep(1.1)  # the refused message reappears after its visibility timeout
    assert main([*argv, "--dead-letter-bucket", bucket]) == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (done["refused"], done["deleted"], done["processed"]) == (0, 1, 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--queue", "pue-dlq"], "expected an SQS queue URL"),
        (["--queue", "https://sqs.us-east-1.amazonaws.com/"], "expected an SQS queue URL"),
        (["--queue", "https://q.example/1/q", "--limit", "0"], "expected a whole number from 1"),
        (["--queue", "https://q.example/1/q", "--limit", "-3"], "expected a whole number from 1"),
        (["--queue", "https://q.example/1/q", "--wait-seconds", "21"], "from 0 to 20"),
        (["--dry-run"], "the following arguments are required: --queue"),
        (["--queue", "https://q.example/1/q", "--max-attempts", "0"], "expected a whole number from 1"),
        (["--queue", "https://q.example/1/q", "--stream-arn", "segment"], "expected a Kinesis stream ARN"),
    ],
)
def test_bad_arguments_are_named_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["redrive", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_help_explains_both_kinds_of_message_and_what_is_deleted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["redrive", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    phrases = ("discarded batches", "dead-lettered again", "--dry-run", "--limit", "JSON summary", "parked")
    for phrase in (*phrases, "--max-attempts", "--stream-arn", "--dead-letter-bucket", "refused"):
        assert phrase in text


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_is_a_rewritten_line_on_a_terminal_and_nothing_elsewhere() -> None:
    assert terminal_progress(Terminal(tty=False)) is None
    screen = Terminal(tty=True)
    show: Any = terminal_progress(screen)
    show(RedriveStats(messages=12, deleted=10, kept=1, skipped=1))
    assert screen.getvalue().startswith("\r") and "12 messages" in screen.getvalue()
    assert "10 deleted" in screen.getvalue() and "\n" not in screen.getvalue()
