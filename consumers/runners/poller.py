"""``pue consume``: one process reading every shard of a real Kinesis stream into the Lambda handler's path.

For developers and small deployments. Records are shaped as Lambda shapes them
(``consumers.runners.lambda_events.from_get_records``) and go through the ``handle_event`` the Lambda handler
calls, with Lambda's stream semantics kept where they matter:

- every shard is read (ListShards, paginated); after a reshard a child starts only when its parent(s) are
  finished (closed and read to the end), so each partition key's records stay in order;
- a shard's checkpoint moves after its batch is fully handled; a restart resumes right after it;
- ``batchItemFailures``: records before the lowest failed sequence number are checkpointed, and the shard is
  read again from that number after an exponential backoff, at most ``max_retries`` times in a row; then
  the consumer stops with an error, its checkpoint still before the failed record (nothing is skipped);
- a stop request (SIGINT/SIGTERM in ``pue consume``) takes effect after the batch in flight;
- an explicit start (``at_sequence`` for named shards, ``at_timestamp`` for all) wins over the checkpoint for
  the shard's first read of the run (replaying a range a discarded batch named, or from a point in time).

Shards are polled round-robin from one thread: the pipeline already spreads a batch's users over a pool.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Literal, TypeAlias

from consumers.runners.checkpoints import CheckpointStore
from consumers.runners.lambda_events import from_get_records
from schemas.batch import BatchCounts, PartialBatchResponse
from schemas.errors import ConfigError, PueError
from schemas.limits import KINESIS_GET_RECORDS_PER_SHARD_PER_SECOND

if TYPE_CHECKING:
    from consumers.stream.pipeline import BatchResult

log = logging.getLogger("pue.consume")

SERVICE = "kinesis"
StartPosition = Literal["TRIM_HORIZON", "LATEST"]
Handle: TypeAlias = "Callable[[dict[str, Any]], tuple[PartialBatchResponse, BatchResult | None]]"
Clock = Callable[[], float]
_READ = "read"  # where a shard fails when GetShardIterator/GetRecords itself fails (not a record)


class RetriesExhausted(PueError):
    """A shard kept failing at the same place; its checkpoint is still before the failing record."""

    retryable = True


@dataclass(frozen=True, slots=True)
class ConsumeOptions:
    start: StartPosition = "TRIM_HORIZON"  # where a shard without checkpoint (and without parent) starts
    batch_size: int = 500  # GetRecords Limit, i.e. the most records per handled batch
    max_retries: int = 8  # in a row at the same place (about a minute of backoff by default), then stop
    backoff_base: float = 0.5  # seconds; doubles per retry, with jitter
    backoff_max: float = 30.0
    poll_interval: float = 1 / KINESIS_GET_RECORDS_PER_SHARD_PER_SECOND  # between reads of one shard
    idle_wait: float = 1.0  # after a read that returned nothing, as Lambda polls an idle shard
    max_records: int | None = None  # stop once this many records were handled (after that batch)
    until_caught_up: bool = False  # stop once every shard is read to its tip
    at_sequence: Mapping[str, str] = field(default_factory=dict)  # shard id -> first sequence number to read
    at_timestamp: datetime | None = None  # every shard starts at this time (AT_TIMESTAMP)


@dataclass(slots=True)
class ConsumeStats:
    records: int = 0  # Kinesis records handled and checkpointed
    batches: int = 0
    retries: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)  # pipeline accounting, redeliveries included
    lag_ms: dict[str, int] = field(default_factory=dict)  # MillisBehindLatest of each shard's last read


@dataclass(frozen=True, slots=True)
class Shard:
    shard_id: str
    parents: tuple[str, ...]

    @classmethod
    def from_api(cls, shard: Mapping[str, Any]) -> Shard:
        parents = (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
        return cls(str(shard["ShardId"]), tuple(str(p) for p in parents if p))


@dataclass(slots=True)
class _Reader:
    shard: Shard
    iterator: str | None = None
    resume_at: str | None = None  # AT_SEQUENCE_NUMBER after a partial failure
    failing_at: str | None = None
    attempts: int = 0
    next_poll: float = 0.0
    caught_up: bool = False
    last_handled: str | None = None  # this run's own position: wins over the checkpoint and the start


class KinesisPoller:
    """Reads ``stream`` through ``client`` (boto3 Kinesis) and hands each batch to ``handle``."""

    def __init__(
        self,
        client: Any,
        stream: str,
        handle: Handle,
        checkpoints: CheckpointStore,
        options: ConsumeOptions | None = None,
        *,
        stop: threading.Event | None = None,
        progress: Callable[[ConsumeStats, bool], None] | None = None,
        clock: Clock = time.monotonic,
        tick: Callable[[], None] | None = None,
    ) -> None:
        """``tick`` runs once per round of polls (``pue consume`` sweeps owed refreshes with it)."""
        # Imported here, not at module level: `pue --help` should not pay for botocore.
        from destinations.aws.errors import translated

        self._translated = translated
        self._client = client
        self.stream = stream
        self._handle_event = handle
        self.checkpoints = checkpoints
        self.options = options or ConsumeOptions()
        self._stop = stop or threading.Event()
        self._progress = progress
        self._clock = clock
        self._tick = tick
        self._readers: dict[str, _Reader] = {}
        self._stream_arn = ""
        self._reshard_seen = False
        self.stats = ConsumeStats()

    def run(self) -> ConsumeStats:
        with self._translated(SERVICE):
            summary = self._client.describe_stream_summary(StreamName=self.stream)
        self._stream_arn = str(summary["StreamDescriptionSummary"]["StreamARN"])
        self._refresh()
        missing = set(self.options.at_sequence) - set(self._readers)
        if missing:
            raise ConfigError([f"--at-sequence: {self.stream} has no shard {s!r}" for s in sorted(missing)])
        while not self._should_stop():
            ready = [r for r in self._readers.values() if self._is_ready(r)]
            if not ready:
                break  # every shard is closed and read to its end: nothing more can arrive
            progressed = False
            for reader in ready:
                if self._should_stop():
                    break
                if reader.next_poll <= self._clock():
                    progressed |= self._poll(reader)
            if self._reshard_seen:
                self._refresh()
            elif self.options.until_caught_up and all(r.caught_up for r in ready):
                break
            if not progressed:
                soonest = min(r.next_poll for r in ready) - self._clock()
                self._stop.wait(min(max(soonest, 0.0), self.options.idle_wait))
            if self._tick is not None:
                self._tick()
            self._report(final=False)
        self._report(final=True)
        return self.stats

    def _should_stop(self) -> bool:
        limit = self.options.max_records
        return self._stop.is_set() or (limit is not None and self.stats.records >= limit)

    def _report(self, *, final: bool) -> None:
        if self._progress is not None:
            self._progress(self.stats, final)

    # shards and their lineage

    def _refresh(self) -> None:
        shards: list[Shard] = []
        params: dict[str, Any] = {"StreamName": self.stream}
        while True:
            with self._translated(SERVICE):
                page = self._client.list_shards(**params)
            shards.extend(Shard.from_api(s) for s in page.get("Shards", []))
            token = page.get("NextToken")
            if not token:
                break
            params = {"NextToken": token}  # ListShards refuses StreamName together with NextToken
        self._readers = {s.shard_id: self._readers.get(s.shard_id) or _Reader(s) for s in shards}
        self._reshard_seen = False

    def _finished(self, shard_id: str) -> bool:
        # A parent no longer listed has aged out of the stream's retention: nothing of it is left to read.
        return shard_id not in self._readers or self.checkpoints.get(shard_id).finished

    def _is_ready(self, reader: _Reader) -> bool:
        return not self._finished(reader.shard.shard_id) and all(
            self._finished(parent) for parent in reader.shard.parents
        )

    # reading

    def _iterator(self, reader: _Reader) -> str:
        shard_id = reader.shard.shard_id
        params: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard_id}
        checkpoint = self.checkpoints.get(shard_id).sequence_number
        explicit = self.options.at_sequence.get(shard_id)
        if reader.resume_at is not None:
            params.update(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=reader.resume_at)
        elif reader.last_handled is not None:
            params.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=reader.last_handled
            )
        elif explicit is not None:
            params.update(ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=explicit)
        elif self.options.at_timestamp is not None:
            params.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self.options.at_timestamp)
        elif checkpoint is not None:
            params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=checkpoint)
        elif any(parent in self._readers for parent in reader.shard.parents):
            params.update(ShardIteratorType="TRIM_HORIZON")  # a child continues where its parents ended
        else:
            params.update(ShardIteratorType=self.options.start)
        with self._translated(SERVICE):
            iterator = str(self._client.get_shard_iterator(**params)["ShardIterator"])
        reader.resume_at = None
        return iterator

    def _poll(self, reader: _Reader) -> bool:
        """Read and handle one batch of ``reader``'s shard; True if it had records."""
        started = self._clock()
        reader.next_poll = started + self.options.poll_interval
        shard_id = reader.shard.shard_id
        try:
            if reader.iterator is None:
                reader.iterator = self._iterator(reader)
            with self._translated(SERVICE):
                page = self._client.get_records(ShardIterator=reader.iterator, Limit=self.options.batch_size)
        except PueError as error:
            if error.code == "ExpiredIteratorException":
                reader.iterator = None  # iterators live 5 minutes: take a new one from the checkpoint
                return False
            if not error.retryable:
                raise
            self._back_off(reader, _READ, str(error))
            return False
        if reader.failing_at == _READ:
            reader.attempts, reader.failing_at = 0, None
        records: Sequence[Mapping[str, Any]] = page.get("Records") or []
        lag = page.get("MillisBehindLatest")
        if lag is not None:
            self.stats.lag_ms[shard_id] = int(lag)
        if records and not self._handle(reader, records):
            return True
        reader.iterator = page.get("NextShardIterator")
        reader.caught_up = not records and lag == 0
        if not records:
            reader.next_poll = started + self.options.idle_wait
        if reader.iterator is None:  # closed by a reshard and read to its end
            self.checkpoints.finish(shard_id)
            self._reshard_seen = True
            log.info("shard finished", extra={"fields": {"shard": shard_id}})
        return bool(records)

    def _handle(self, reader: _Reader, records: Sequence[Mapping[str, Any]]) -> bool:
        """Hand one batch to the pipeline and checkpoint what it finished; True if it finished all of it."""
        shard_id = reader.shard.shard_id
        event = from_get_records(records, shard_id=shard_id, stream_arn=self._stream_arn)
        response, result = self._handle_event(event)
        self.stats.batches += 1
        if result is not None:
            self.stats.counts.add(result.counts)
        sequences = [str(record["SequenceNumber"]) for record in records]
        failed = {str(item["itemIdentifier"]) for item in response["batchItemFailures"]}
        if not failed:
            self.checkpoints.advance(shard_id, sequences[-1])
            reader.last_handled = sequences[-1]
            self.stats.records += len(sequences)
            reader.attempts, reader.failing_at = 0, None
            return True
        # As Lambda does: an identifier that is not in the batch fails the whole batch.
        lowest = min(failed, key=int) if failed <= set(sequences) else sequences[0]
        done = [s for s in sequences if int(s) < int(lowest)]
        if done:
            self.checkpoints.advance(shard_id, done[-1])
            reader.last_handled = done[-1]
            self.stats.records += len(done)
        reader.iterator, reader.resume_at = None, lowest
        self._back_off(reader, lowest, f"{len(failed)} record(s) reported for retry")
        return False

    def _back_off(self, reader: _Reader, failing_at: str, reason: str) -> None:
        if failing_at == reader.failing_at:
            reader.attempts += 1
        else:
            reader.failing_at, reader.attempts = failing_at, 1
        shard_id = reader.shard.shard_id
        if reader.attempts > self.options.max_retries:
            raise RetriesExhausted(
                f"{shard_id} still failing at {failing_at} after {self.options.max_retries} retries "
                f"({reason}); its checkpoint is unchanged, so a restart retries from there",
                service=SERVICE,
            )
        ceiling = min(self.options.backoff_max, self.options.backoff_base * 2 ** (reader.attempts - 1))
        delay = ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter spreads retries, not security
        reader.next_poll = self._clock() + delay
        self.stats.retries += 1
        log.warning(
            "retrying shard",
            extra={"fields": {"shard": shard_id, "attempt": reader.attempts, "reason": reason}},
        )


def print_progress(
    stream: IO[str], interval: float = 2.0, clock: Clock = time.monotonic
) -> Callable[[ConsumeStats, bool], None]:
    """Every ``interval`` seconds: records handled, records/s since the last line, lag of the worst shards."""
    state = {"at": clock(), "records": 0}
    end = "\r" if stream.isatty() else "\n"

    def show(stats: ConsumeStats, final: bool) -> None:
        now = clock()
        if not final and now - state["at"] < interval:
            return
        rate = (stats.records - state["records"]) / max(now - state["at"], 1e-9)
        state.update(at=now, records=stats.records)
        worst = sorted(stats.lag_ms.items(), key=lambda kv: -kv[1])[:4]
        lag = ", ".join(f"{shard} {ms / 1000:.1f}s" for shard, ms in worst) or "n/a"
        stream.write(f"  {stats.records:>9,} records  {rate:>8,.0f} records/s  lag: {lag}{end}")
        if final and end == "\r":
            stream.write("\n")
        stream.flush()

    return show
