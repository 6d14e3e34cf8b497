"""`pue consume --at-sequence SHARD:SEQUENCE` and `--at-timestamp TIME` on a real Kinesis API (moto at
127.0.0.1): an explicit start wins over the checkpoint; bad values are clear errors with exit status 2."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumers.cli.consume import register
from consumers.runners.checkpoints import CheckpointStore
from consumers.runners.poller import ConsumeOptions, KinesisPoller
from schemas.errors import ConfigError
from tests.integration.test_consume import Recorder, one_shard_stream

SHARD = "shardId-000000000000"
FAST = ConsumeOptions(backoff_base=0.0, poll_interval=0.0, idle_wait=0.01, until_caught_up=True)


def options(**changes: Any) -> ConsumeOptions:
    return dataclasses.replace(FAST, **changes)


def test_at_sequence_rereads_from_that_record_whatever_the_checkpoint(kinesis: Any, tmp_path: Path) -> None:
    stream, sequences = one_shard_stream(kinesis, 10)
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream)
    checkpoints.advance(SHARD, sequences[-1])  # everything was consumed before
    recorder = Recorder()
    stats = KinesisPoller(
        kinesis, stream, recorder, checkpoints, options(at_sequence={SHARD: sequences[3]})
    ).run()
    assert recorder.seen == sequences[3:]
    assert stats.records == 7


def test_at_sequence_naming_a_shard_the_stream_lacks_is_a_config_error(kinesis: Any, tmp_path: Path) -> None:
    stream, _ = one_shard_stream(kinesis, 1)
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream)
    poller = KinesisPoller(kinesis, stream, Recorder(), checkpoints, options(at_sequence={"shardId-9": "1"}))
    with pytest.raises(ConfigError, match="has no shard 'shardId-9'"):
        poller.run()


def test_at_timestamp_starts_at_the_first_record_written_from_then(kinesis: Any, tmp_path: Path) -> None:
    stream, before = one_shard_stream(kinesis, 4)
    between = datetime.now(UTC)  # after the first records were stored, before the next ones
    after = kinesis.put_records(
        StreamName=stream, Records=[{"Data": b'{"type":"page"}', "PartitionKey": "u"} for _ in range(3)]
    )
    later = [r["SequenceNumber"] for r in after["Records"]]
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream)
    checkpoints.advance(SHARD, later[-1])
    recorder = Recorder()
    KinesisPoller(kinesis, stream, recorder, checkpoints, options(at_timestamp=between)).run()
    assert recorder.seen == later
    assert not set(before) & set(recorder.seen)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pue")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["consume", "--stream", "s", *argv])


def test_the_options_parse_into_start_positions() -> None:
    args = parse(["--at-sequence", "shardId-000000000001:4960118965", "--at-sequence", "shardId-2:7"])
    assert args.at_sequence == [("shardId-000000000001", "4960118965"), ("shardId-2", "7")]
    args = parse(["--at-timestamp", "2026-12-01T08:00:00Z"])
    assert args.at_timestamp == datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--at-sequence", "4960118965"], "expected SHARD:SEQUENCE"),
        (["--at-sequence", "shardId-1:latest"], "expected SHARD:SEQUENCE"),
        (["--at-sequence", "shardId-1:" + "9" * 130], "expected SHARD:SEQUENCE"),
        (["--at-timestamp", "yesterday"], "expected an ISO 8601 time"),
        (["--at-timestamp", "2026-12-01T08:00:00"], "give the time zone"),
        (["--at-timestamp", "2026-12-01T08:00:00Z", "--from", "LATEST"], "not allowed with argument"),
    ],
)
def test_bad_start_positions_are_named_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
