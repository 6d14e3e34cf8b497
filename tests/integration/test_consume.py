"""`pue consume` on a real Kinesis API at 127.0.0.1 (moto): restarts, retries, resharding, stopping."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumers.cli.consume import (
    add_consume_arguments,
    consume_command,
    install_stop_signals,
    register,
)
from consumers.runners.checkpoints import CheckpointStore
from consumers.runners.poller import ConsumeOptions, KinesisPoller, RetriesExhausted
from consumers.runners.sample_data import clickstream
from destinations.local.store import LocalStore
from schemas.batch import BatchItemFailure, PartialBatchResponse
from schemas.errors import ConfigError
from tests.integration.segment_stream import put_like_segment

FAST = ConsumeOptions(backoff_base=0.0, poll_interval=0.0, idle_wait=0.01, until_caught_up=True)


def expected_interactions(messages: list[dict[str, Any]]) -> int:
    return sum(len(m["properties"].get("products", [])) or 1 for m in messages if m["type"] == "track")


def consume(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    """``pue consume ARGV`` as the CLI runs it; the JSON summary it prints last."""
    parser = argparse.ArgumentParser(prog="pue")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["consume", *argv])
    assert args.handler(args) == 0
    return dict(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))


def last_sequence_per_shard(kinesis: Any, stream: str) -> dict[str, str]:
    last = {}
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
        last[shard["ShardId"]] = records[-1]["SequenceNumber"]
    return last


def test_restart_halfway_neither_loses_nor_doubles_interactions(
    kinesis: Any, moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = f"segment-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    messages = clickstream(users=60, seed=5)[:1000]
    put_like_segment(kinesis, stream, messages)
    base = ["--stream", stream, "--endpoint-url", moto_endpoint, "--region", "us-east-1"]
    base += ["--state", str(tmp_path), "--backend", "local", "--batch-size", "100"]

    first = consume([*base, "--max-records", "400"], capsys)
    assert first["kinesis_records"] == 400 and first["records"] == 400 and first["failed"] == 0
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream).snapshot()
    assert len(checkpoints) == 2 and all(cp.sequence_number for cp in checkpoints.values())
    with LocalStore.in_state_dir(tmp_path) as store:
        halfway = store.interaction_count()
    assert 0 < halfway < expected_interactions(messages)

    second = consume([*base, "--until-caught-up"], capsys)
    assert second["kinesis_records"] == 600 and second["records"] == 600  # resumed: nothing read twice
    assert first["dead_lettered"] + second["dead_lettered"] == 0
    with LocalStore.in_state_dir(tmp_path) as store:
        assert store.interaction_count() == expected_interactions(messages)  # nothing lost
        user = next(m["userId"] for m in messages if m.get("userId"))
        assert store.traits_for(user)["recommended_products"]
    final = CheckpointStore.in_state_dir(tmp_path, stream).snapshot()
    assert {s: cp.sequence_number for s, cp in final.items()} == last_sequence_per_shard(kinesis, stream)

    third = consume([*base, "--until-caught-up"], capsys)
    assert third["kinesis_records"] == 0 and third["batches"] == 0


class Recorder:
    """A handler that records the sequence numbers it saw and fails some of them, as the pipeline reports."""

    def __init__(self, fail: Callable[[str, int], bool] = lambda sequence, seen: False) -> None:
        self.seen: list[str] = []
        self.fail = fail
        self.on_batch: Callable[[], None] = lambda: None

    def __call__(self, event: dict[str, Any]) -> tuple[PartialBatchResponse, None]:
        failed: list[BatchItemFailure] = []
        for record in event["Records"]:
            sequence = record["kinesis"]["sequenceNumber"]
            if self.fail(sequence, self.seen.count(sequence)):
                failed.append({"itemIdentifier": sequence})
            self.seen.append(sequence)
        self.on_batch()
        return {"batchItemFailures": failed}, None


def one_shard_stream(kinesis: Any, count: int) -> tuple[str, list[str]]:
    stream = f"segment-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    response = kinesis.put_records(
        StreamName=stream, Records=[{"Data": b'{"type":"page"}', "PartitionKey": "u"} for _ in range(count)]
    )
    return stream, [r["SequenceNumber"] for r in response["Records"]]


def test_a_partial_failure_rereads_from_the_lowest_failed_record(kinesis: Any, tmp_path: Path) -> None:
    stream, sequences = one_shard_stream(kinesis, 10)
    flaky = {sequences[4], sequences[7]}
    # Records 5 and 8 fail on their first delivery only.
    recorder = Recorder(lambda sequence, seen: sequence in flaky and seen == 0)
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream)
    stats = KinesisPoller(kinesis, stream, recorder, checkpoints, FAST).run()

    # Lambda's contract: records before the lowest failure are done; the rest are delivered again.
    assert recorder.seen == sequences + sequences[4:]
    assert stats.records == 10 and stats.retries == 1
    assert checkpoints.get("shardId-000000000000").sequence_number == sequences[-1]


def test_retries_are_bounded_and_the_checkpoint_stays_before_the_failure(
    kinesis: Any, tmp_path: Path
) -> None:
    stream, sequences = one_shard_stream(kinesis, 6)
    recorder = Recorder(lambda sequence, seen: sequence == sequences[3])
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream)
    options = ConsumeOptions(backoff_base=0.0, poll_interval=0.0, idle_wait=0.01, max_retries=2)
    with pytest.raises(RetriesExhausted, match="after 2 retries"):
        KinesisPoller(kinesis, stream, recorder, checkpoints, options).run()
    assert recorder.seen.count(sequences[3]) == 3  # the first delivery and two retries
    assert recorder.seen.count(sequences[0]) == 1
    # Reloaded from disk: a restart resumes at the failed record, nothing after it is skipped.
    reloaded = CheckpointStore.in_state_dir(tmp_path, stream)
    assert reloaded.get("shardId-000000000000").sequence_number == sequences[2]


def test_a_stop_request_ends_after_the_batch_in_flight(kinesis: Any, tmp_path: Path) -> None:
    stream, sequences = one_shard_stream(kinesis, 9)
    stop = threading.Event()
    recorder = Recorder()
    recorder.on_batch = stop.set  # as SIGTERM arriving while the first batch is handled
    checkpoints = CheckpointStore.in_state_dir(tmp_path, stream)
    options = ConsumeOptions(batch_size=4, poll_interval=0.0)
    stats = KinesisPoller(kinesis, stream, recorder, checkpoints, options, stop=stop).run()
    assert recorder.seen == sequences[:4] and stats.batches == 1
    assert checkpoints.get("shardId-000000000000").sequence_number == sequences[3]


def test_sigterm_asks_for_a_clean_stop_and_a_second_signal_interrupts() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed from the main thread")
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    restore = install_stop_signals(stop)
    try:
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


# Resharding. moto moves a split shard's records to its children and never ends a closed shard, so lineage
# is exercised on an in-memory Kinesis that behaves as the service documents it.


class FakeKinesis:
    """Shards with parents; a closed shard ends (no NextShardIterator) once read; ListShards pages by 2."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.sequence = 1000
        self.errors: list[tuple[str, str]] = []  # (operation, error code) to raise once, in order

    def add(
        self, shard_id: str, count: int, *, parents: tuple[str, ...] = (), closed: bool = False
    ) -> list[str]:
        sequences = []
        for _ in range(count):
            self.sequence += 1
            sequences.append(str(self.sequence))
        self.shards[shard_id] = {"parents": parents, "closed": closed, "sequences": sequences}
        return sequences

    def _maybe_fail(self, operation: str) -> None:
        if self.errors and self.errors[0][0] == operation:
            code = self.errors.pop(0)[1]
            raise ClientError(
                {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
            )

    def describe_stream_summary(self, StreamName: str) -> dict[str, Any]:
        return {"StreamDescriptionSummary": {"StreamARN": f"arn:aws:kinesis:us-east-1:1:stream/{StreamName}"}}

    def list_shards(self, **params: Any) -> dict[str, Any]:
        assert ("NextToken" in params) != ("StreamName" in params)
        start = int(params.get("NextToken", 0))
        ids = sorted(self.shards)[start : start + 2]
        page = []
        for shard_id in ids:
            shard = self.shards[shard_id]
            entry: dict[str, Any] = {"ShardId": shard_id}
            entry.update(zip(("ParentShardId", "AdjacentParentShardId"), shard["parents"], strict=False))
            page.append(entry)
        more = start + 2 < len(self.shards)
        return {"Shards": page, **({"NextToken": str(start + 2)} if more else {})}

    def get_shard_iterator(self, StreamName: str, ShardId: str, ShardIteratorType: str, **kw: Any) -> Any:
        sequences = self.shards[ShardId]["sequences"]
        position = {
            "TRIM_HORIZON": 0,
            "LATEST": len(sequences),
            "AT_SEQUENCE_NUMBER": sequences.index(kw.get("StartingSequenceNumber", "")) if kw else 0,
            "AFTER_SEQUENCE_NUMBER": sequences.index(kw.get("StartingSequenceNumber", "")) + 1 if kw else 0,
        }[ShardIteratorType]
        return {"ShardIterator": f"{ShardId}/{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        self._maybe_fail("GetRecords")
        shard_id, position = ShardIterator.rsplit("/", 1)
        shard, start = self.shards[shard_id], int(position)
        chosen = shard["sequences"][start : start + Limit]
        end = start + len(chosen)
        at_end = end == len(shard["sequences"])
        records = [
            {
                "Data": b"{}",
                "SequenceNumber": s,
                "PartitionKey": "k",
                "ApproximateArrivalTimestamp": datetime.now(UTC),
            }
            for s in chosen
        ]
        return {
            "Records": records,
            "NextShardIterator": None if (at_end and shard["closed"]) else f"{shard_id}/{end}",
            "MillisBehindLatest": 0 if at_end else 1000,
        }


def test_children_start_only_after_their_parents_are_finished(tmp_path: Path) -> None:
    fake = FakeKinesis()
    # shard-0 was split into shard-2 and shard-3, which were later merged into shard-4; shard-1 never changed.
    parent = fake.add("shardId-0", 5, closed=True)
    other = fake.add("shardId-1", 4)
    left = fake.add("shardId-2", 3, parents=("shardId-0",), closed=True)
    right = fake.add("shardId-3", 2, parents=("shardId-0",), closed=True)
    merged = fake.add("shardId-4", 3, parents=("shardId-2", "shardId-3"))
    fake.errors = [
        ("GetRecords", "ExpiredIteratorException"),
        ("GetRecords", "ProvisionedThroughputExceededException"),
    ]
    recorder = Recorder()
    checkpoints = CheckpointStore.in_state_dir(tmp_path, "stream")
    options = ConsumeOptions(
        batch_size=2, backoff_base=0.0, poll_interval=0.0, idle_wait=0.01, until_caught_up=True
    )
    stats = KinesisPoller(fake, "stream", recorder, checkpoints, options).run()

    seen = recorder.seen
    assert sorted(seen) == sorted(parent + other + left + right + merged)  # each record exactly once
    position = {sequence: index for index, sequence in enumerate(seen)}
    assert max(position[s] for s in parent) < min(position[s] for s in left + right)
    assert max(position[s] for s in left + right) < min(position[s] for s in merged)
    assert [s for s in seen if s in left] == left and [s for s in seen if s in merged] == merged
    assert {s for s, cp in checkpoints.snapshot().items() if cp.finished} == {
        "shardId-0",
        "shardId-2",
        "shardId-3",
    }
    assert stats.retries == 1  # the throttled read; an expired iterator is simply renewed


def test_a_child_whose_parent_aged_out_starts_at_the_requested_position(tmp_path: Path) -> None:
    fake = FakeKinesis()
    fake.add("shardId-5", 3, parents=("shardId-gone",))
    recorder = Recorder()
    options = ConsumeOptions(start="LATEST", poll_interval=0.0, idle_wait=0.01, until_caught_up=True)
    KinesisPoller(fake, "s", recorder, CheckpointStore.in_state_dir(tmp_path, "s"), options).run()
    assert recorder.seen == []  # LATEST: only records written from now on


def test_checkpoints_only_move_forward_and_survive_a_reload(tmp_path: Path) -> None:
    store = CheckpointStore.in_state_dir(tmp_path, "segment")
    store.advance("shardId-1", "200")
    store.advance("shardId-1", "150")
    store.finish("shardId-0")
    reloaded = CheckpointStore.in_state_dir(tmp_path, "segment")
    assert reloaded.get("shardId-1").sequence_number == "200"
    assert reloaded.get("shardId-0").finished and reloaded.get("shardId-9").sequence_number is None
    assert [p.name for p in store.path.parent.iterdir()] == ["segment.json"]  # no temporary files left


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "stream": "other", "shards": {}}'])
def test_an_unreadable_checkpoint_file_stops_with_advice(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kinesis" / "segment.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(ConfigError, match="move it away to start over"):
        CheckpointStore.in_state_dir(tmp_path, "segment")


def test_consume_names_a_bad_stream_name_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_consume_arguments(parser)
    args = parser.parse_args(["--stream", "no/slashes", "--state", str(tmp_path), "--backend", "local"])
    assert consume_command(args) == 2
    assert "not a Kinesis stream name" in capsys.readouterr().err
