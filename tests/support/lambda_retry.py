"""A Lambda retry emulator: delivers a Kinesis event to a handler as an event source mapping would.

Emulated configuration (deploy/template.yaml): ``FunctionResponseTypes: [ReportBatchItemFailures]``,
``BisectBatchOnFunctionError: true``, ``MaximumRetryAttempts: max_retry_attempts``. The rules, from
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html:

- Each shard is its own ordered stream; batches never mix shards, and a shard's next batch waits until the
  current one is done (checkpointed or given up).
- An empty or absent ``batchItemFailures`` is a complete success: the batch is checkpointed.
- Partial failure: the lowest failed sequence number becomes the checkpoint; the records before it are done
  and the records at and after it are delivered again, in order ("bisected at the returned sequence number").
  That redelivery counts as a retry.
- Complete failure (the handler raised, or the response is malformed: an ``itemIdentifier`` that is empty,
  null, missing or not a sequence number of the batch): the batch is split in two halves, first half first,
  each retried on its own. Splitting does not count as a retry; a single record that fails is retried whole.
- After ``max_retry_attempts`` retries the remaining records are given up (Lambda sends their metadata to the
  on-failure destination and moves on): the emulator lists them in ``RetryOutcome.abandoned``.

Every delivery is recorded, with the sequence numbers it carried and what the handler answered, so a test
can check what happened at each step (accounting, order, idempotency).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from consumers.stream.pipeline import BatchResult, Pipeline

Record = Mapping[str, Any]
# What the emulator calls with each batch: the Lambda response, plus the pipeline's result when known.
Invoke = Callable[[dict[str, Any]], tuple[Mapping[str, Any] | None, BatchResult | None]]


class Cause(StrEnum):
    """Why a batch was delivered."""

    FIRST = "first"  # the batch as Lambda first read it from the shard
    RETRY = "retry"  # the records from the checkpoint on, after a partial failure (counts as a retry)
    BISECT = "bisect"  # one half of a batch that failed completely (does not count as a retry)
    REPEAT = "repeat"  # a single record that failed completely, delivered again (counts as a retry)


class Verdict(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"  # batchItemFailures named some records
    ERROR = "error"  # the handler raised, or answered something Lambda reads as a complete failure


@dataclass(frozen=True, slots=True)
class Delivery:
    """One invocation of the handler."""

    shard_id: str
    cause: Cause
    sequence_numbers: tuple[str, ...]
    verdict: Verdict
    failed: tuple[str, ...] = ()  # the reported itemIdentifiers (PARTIAL), as the handler gave them
    error: str | None = None  # why the batch failed completely (ERROR)
    result: BatchResult | None = None  # the pipeline's accounting, when the invoker exposes it
    retries: int = 0  # retries already spent on this batch before this delivery


@dataclass(slots=True)
class RetryOutcome:
    """Everything the emulator did for one event."""

    deliveries: list[Delivery] = field(default_factory=list)
    checkpointed: list[str] = field(default_factory=list)  # sequence numbers done, in shard order
    abandoned: list[str] = field(default_factory=list)  # sequence numbers given up after the last retry

    @property
    def done(self) -> bool:
        """True when every record was checkpointed: nothing was given up."""
        return not self.abandoned

    def deliveries_of(self, sequence_number: str) -> list[Delivery]:
        return [d for d in self.deliveries if sequence_number in d.sequence_numbers]

    @property
    def invocations(self) -> int:
        return len(self.deliveries)


@dataclass(slots=True)
class _Batch:
    records: list[Record]
    retries: int
    cause: Cause


class LambdaRetryEmulator:
    """Feeds an event's records to ``invoke`` per shard, in batches, retrying as Lambda does.

    ``batch_size`` splits each shard's records into successive batches (Lambda's BatchSize); None delivers
    each shard's records as one batch. ``max_retry_attempts`` is Lambda's MaximumRetryAttempts.
    """

    def __init__(
        self,
        invoke: Invoke,
        *,
        max_retry_attempts: int = 10,
        batch_size: int | None = None,
        bisect_on_error: bool = True,
    ) -> None:
        if max_retry_attempts < 0:
            raise ValueError("max_retry_attempts must be 0 or more")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._invoke = invoke
        self.max_retry_attempts = max_retry_attempts
        self.batch_size = batch_size
        self.bisect_on_error = bisect_on_error

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline, **options: Any) -> LambdaRetryEmulator:
        """Deliver through ``consumers.stream.lambda_batch.handle_event`` (the handler's own code) to
        ``pipeline``."""
        from consumers.stream.lambda_batch import handle_event

        def invoke(event: dict[str, Any]) -> tuple[Mapping[str, Any] | None, BatchResult | None]:
            response, result = handle_event(event, pipeline)
            return dict(response), result

        return cls(invoke, **options)

    @classmethod
    def for_handler(
        cls, handler: Callable[[dict[str, Any], object], Mapping[str, Any] | None], **options: Any
    ) -> LambdaRetryEmulator:
        """Deliver to a Lambda handler ``handler(event, context)``, e.g. ``consumers.kinesis.handler``."""

        def invoke(event: dict[str, Any]) -> tuple[Mapping[str, Any] | None, BatchResult | None]:
            return handler(event, None), None

        return cls(invoke, **options)

    def run(self, event: Mapping[str, Any]) -> RetryOutcome:
        outcome = RetryOutcome()
        for shard_id, records in shards(event.get("Records") or []).items():
            size = self.batch_size or max(len(records), 1)
            for start in range(0, len(records), size):
                self._drain(shard_id, _Batch(records[start : start + size], 0, Cause.FIRST), outcome)
        return outcome

    def _drain(self, shard_id: str, first: _Batch, outcome: RetryOutcome) -> None:
        """Deliver one batch and whatever its failures leave to redeliver, until done or given up."""
        pending: deque[_Batch] = deque([first])
        while pending:
            batch = pending.popleft()
            delivery = self._deliver(shard_id, batch)
            outcome.deliveries.append(delivery)
            sequences = [sequence_of(r) for r in batch.records]
            if delivery.verdict is Verdict.SUCCESS:
                outcome.checkpointed.extend(sequences)
                continue
            if delivery.verdict is Verdict.PARTIAL:
                checkpoint = sequences.index(min(delivery.failed, key=sequence_key))
                outcome.checkpointed.extend(sequences[:checkpoint])
                rest = _Batch(batch.records[checkpoint:], batch.retries + 1, Cause.RETRY)
                self._retry_or_abandon(rest, pending, outcome)
                continue
            if self.bisect_on_error and len(batch.records) > 1:
                half = len(batch.records) // 2
                # Halves go first-half-first, ahead of anything else pending: the shard's order holds.
                pending.appendleft(_Batch(batch.records[half:], batch.retries, Cause.BISECT))
                pending.appendleft(_Batch(batch.records[:half], batch.retries, Cause.BISECT))
                continue
            self._retry_or_abandon(_Batch(batch.records, batch.retries + 1, Cause.REPEAT), pending, outcome)

    def _retry_or_abandon(self, batch: _Batch, pending: deque[_Batch], outcome: RetryOutcome) -> None:
        if batch.retries > self.max_retry_attempts:
            # Lambda gives up on these records (their metadata goes to the on-failure destination) and moves
            # on: to the other half of a bisected batch if one is pending, else to the shard's next batch.
            outcome.abandoned.extend(sequence_of(r) for r in batch.records)
            return
        pending.appendleft(batch)

    def _deliver(self, shard_id: str, batch: _Batch) -> Delivery:
        sequences = tuple(sequence_of(r) for r in batch.records)

        def delivery(verdict: Verdict, **details: Any) -> Delivery:
            return Delivery(shard_id, batch.cause, sequences, verdict, retries=batch.retries, **details)

        try:
            response, result = self._invoke({"Records": [dict(r) for r in batch.records]})
        except Exception as exc:  # a function error: Lambda sees only that the invocation failed
            return delivery(Verdict.ERROR, error=f"handler raised {type(exc).__name__}")
        failed, problem = read_response(response, sequences)
        if problem is not None:
            return delivery(Verdict.ERROR, error=problem, result=result)
        return delivery(Verdict.PARTIAL if failed else Verdict.SUCCESS, failed=failed, result=result)


def read_response(
    response: Mapping[str, Any] | None, batch: Sequence[str]
) -> tuple[tuple[str, ...], str | None]:
    """(failed sequence numbers, None), or ((), why) when Lambda reads the batch as a complete failure."""
    if response is None:  # a null response is a complete success
        return (), None
    failures = response.get("batchItemFailures")
    if failures is None:
        return (), None
    if not isinstance(failures, list):
        return (), "batchItemFailures is not a list"
    known = set(batch)
    failed: list[str] = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or not identifier:
            return (), "itemIdentifier missing, null or empty"
        if identifier not in known:
            return (), "itemIdentifier is not a sequence number of the batch"
        failed.append(identifier)
    return tuple(failed), None


def sequence_of(record: Record) -> str:
    kinesis = record.get("kinesis")
    sequence = kinesis.get("sequenceNumber") if isinstance(kinesis, Mapping) else None
    return str(sequence)


def sequence_key(sequence: str) -> tuple[int, int, str]:
    """Kinesis sequence numbers are decimal strings of varying length: compare them as numbers."""
    return (0, int(sequence), "") if sequence.isdigit() else (1, 0, sequence)


def shard_of(record: Record) -> str:
    event_id = record.get("eventID")
    if isinstance(event_id, str) and ":" in event_id:
        return event_id.partition(":")[0]
    return "unknown"


def shards(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Records per shard, each shard in sequence-number order (as Lambda reads a shard)."""
    grouped: dict[str, list[Record]] = {}
    for record in records:
        grouped.setdefault(shard_of(record), []).append(record)
    return {shard: sorted(rs, key=lambda r: sequence_key(sequence_of(r))) for shard, rs in grouped.items()}
