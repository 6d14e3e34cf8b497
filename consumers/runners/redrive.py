"""``pue redrive``: take messages off a failure queue and run their records through the pipeline again.

A dead-letter message holds one record; a discarded-batch message names a shard's sequence range, read
back from the stream (``consumers.runners.stream_range``). A message is deleted only when every record it
stands for ended processed, filtered or dead-lettered again (a fresh letter, attempt + 1:
``consumers.runners.redrive_letters``); a record reported for retry leaves its message on the queue, visible
again after the visibility timeout. A message that cannot be redriven as is (not pue's, truncated, its records
past the stream's retention) is left there and counted with its reason. Each record is taken once per run: a
letter this run wrote again ends the run's interest in it. ``dry_run`` tracks and deletes nothing: it says
what would happen.

A letter that failed ``max_attempts`` times for good (its attempt count) is parked: left on the queue as it
is, never rewritten again, counted under ``parked`` (a run with a higher ``--max-attempts`` takes it again).

The redrive reads with the stack's role, so it reads only what the stack wrote (issue 23): an S3 letter only
at the key pue's own sink derives for that record, in the configured dead-letter bucket, at most
``DEAD_LETTER_RECORD_MAX_BYTES`` and matching its SHA-256; a discarded batch only of the configured stream.
Anything else is refused: left on the queue, logged and counted with its reason, never deleted. Messages in
hand are kept hidden while a long discarded batch runs (``consumers.runners.redrive_visibility``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from consumers.runners.lambda_events import (
    DEFAULT_STREAM_ARN,
    from_get_records,
    lambda_record,
    partition_key_of,
    sequence_number,
)
from consumers.runners.redrive_letters import RedriveLetters
from consumers.runners.redrive_messages import (
    DiscardedBatch,
    LetterMessage,
    Parsed,
    Refused,
    Unredrivable,
    parse_message,
)
from consumers.runners.redrive_s3 import whole_letter
from consumers.runners.redrive_stats import RedriveOptions, RedriveStats, classify
from consumers.runners.redrive_visibility import VisibilityHeartbeat
from consumers.runners.stream_range import read_range
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from destinations.aws.errors import translated
from schemas.dead_letter import DeadLetter
from schemas.errors import PueError
from schemas.limits import SQS_BATCH_MAX_ENTRIES

log = logging.getLogger("pue.redrive")
SERVICE: Final = "sqs"


class Redriver:
    """Redrives ``queue_url`` through ``pipeline``. ``client(service)`` gives boto3 clients (sqs, and s3 or
    kinesis only when a message needs them)."""

    def __init__(
        self,
        client: Callable[[str], Any],
        queue_url: str,
        pipeline: Pipeline,
        options: RedriveOptions | None = None,
        *,
        progress: Callable[[RedriveStats], None] | None = None,
        pause: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._sqs = client("sqs")
        self.queue_url = queue_url
        self.pipeline = pipeline
        self.options = options or RedriveOptions()
        self._progress = progress
        self._pause = pause
        self._letters = RedriveLetters(pipeline.dead_letters)
        pipeline.dead_letters = self._letters  # a record dead-lettered again carries its attempt count
        self._seen: set[str] = set()
        self._to_release: list[str] = []
        self._next_stand_in = 0
        self.stats = RedriveStats()
        self._heartbeat = VisibilityHeartbeat(self._sqs, queue_url, self.options.visibility_timeout, clock)

    def run(self) -> RedriveStats:
        try:
            while self.options.limit is None or self.stats.messages < self.options.limit:
                messages = self._receive()
                fresh = [
                    (m, p)
                    for m in messages
                    if (p := parse_message(str(m.get("Body", "")))) and self._new(m, p)
                ]
                if not fresh:
                    break  # empty, or only records this run already took: caught up
                self._heartbeat.hold([m for m, _ in fresh])
                self._handle(fresh)
                if self._progress is not None:
                    self._progress(self.stats)
        finally:
            self._release()
        return self.stats

    # the queue

    def _receive(self) -> list[Mapping[str, Any]]:
        wanted = SQS_BATCH_MAX_ENTRIES
        if self.options.limit is not None:
            wanted = min(wanted, self.options.limit - self.stats.messages)
        with translated(SERVICE):
            response = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=self.options.wait_seconds,
                VisibilityTimeout=self.options.visibility_timeout,
            )
        messages: list[Mapping[str, Any]] = response.get("Messages") or []
        if self.options.dry_run:
            self._to_release.extend(str(m["ReceiptHandle"]) for m in messages)
        return messages

    def _new(self, message: Mapping[str, Any], parsed: Parsed) -> bool:
        key = parsed.key if isinstance(parsed, LetterMessage | DiscardedBatch) else str(message["MessageId"])
        # A letter for a record of a stream range this run read (dead-lettered by it) was taken too.
        parent = (
            f"{parsed.letter.shard_id}:{parsed.letter.sequence_number}"
            if isinstance(parsed, LetterMessage)
            else ""
        )
        if key in self._seen or parent in self._seen or str(message["MessageId"]) in self._seen:
            # Taken already (a letter this run wrote again): hidden until the run ends, then visible.
            if not self.options.dry_run:  # a dry run releases everything it took anyway
                self._to_release.append(str(message["ReceiptHandle"]))
            return False
        self._seen.update((key, str(message["MessageId"])))
        return True

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> None:
        if self.options.dry_run or not messages:
            return
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        with translated(SERVICE):
            response = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        failed = response.get("Failed") or []
        # Not deleted: it comes back after the visibility timeout and is redriven again (idempotent).
        self.stats.deleted += len(entries) - len(failed)
        self.stats.kept += len(failed)
        for failure in failed:
            log.warning("message not deleted", extra={"fields": {"code": failure.get("Code")}})

    def _release(self) -> None:
        """Make visible again at once what the run took but leaves: everything in a dry run, and the letters
        the run itself wrote again (for the next run or for inspection, not after the visibility timeout)."""
        handles = self._to_release
        for start in range(0, len(handles), SQS_BATCH_MAX_ENTRIES):
            chunk = handles[start : start + SQS_BATCH_MAX_ENTRIES]
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)
            ]
            try:
                with translated(SERVICE):
                    self._sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except PueError as exc:  # they reappear after the visibility timeout anyway
                log.warning("messages not released", extra={"fields": {"error": str(exc)}})
        self._to_release = []

    # one receive's messages

    def _handle(self, fresh: list[tuple[Mapping[str, Any], Parsed]]) -> None:
        letters: list[tuple[Mapping[str, Any], DeadLetter]] = []
        for message, parsed in fresh:
            self._heartbeat.beat()
            self.stats.messages += 1
            if isinstance(parsed, Refused):
                self.stats.refuse(parsed.reason)
            elif isinstance(parsed, Unredrivable):
                self.stats.skip(parsed.reason)
            elif isinstance(parsed, DiscardedBatch):
                self.stats.discarded_batches += 1
                self._redrive_batch(message, parsed)
            elif parsed.letter.attempt >= self.options.max_attempts:
                self.stats.dead_letters += 1
                self._park(message)
            else:
                self.stats.dead_letters += 1
                letter = self._whole(parsed)
                if letter is not None:
                    letters.append((message, letter))
                    continue  # in hand until its letter is redriven
            self._heartbeat.done(message)
        if letters:
            self._redrive_letters(letters)
        for message, _ in letters:
            self._heartbeat.done(message)

    def _park(self, message: Mapping[str, Any]) -> None:
        """Failed for good ``max_attempts`` times: left on the queue as it is (visible again when the run
        ends, for inspection), never rewritten."""
        self.stats.parked += 1
        if not self.options.dry_run:  # a dry run releases everything it took anyway
            self._to_release.append(str(message["ReceiptHandle"]))

    def _whole(self, parsed: LetterMessage) -> DeadLetter | None:
        whole = whole_letter(parsed, self.options.dead_letter_bucket, lambda: self._client("s3"))
        if isinstance(whole, Refused):
            self.stats.refuse(whole.reason)
        elif isinstance(whole, Unredrivable):
            self.stats.skip(whole.reason)
        else:
            return whole
        return None

    def _redrive_letters(self, letters: list[tuple[Mapping[str, Any], DeadLetter]]) -> None:
        records: list[dict[str, Any]] = []
        by_stand_in: dict[str, Mapping[str, Any]] = {}
        originals: dict[str, DeadLetter] = {}
        for message, letter in letters:
            self._next_stand_in += 1
            stand_in = sequence_number(self._next_stand_in)
            records.append(
                lambda_record(
                    letter.raw,
                    sequence=stand_in,
                    partition_key=partition_key_of(letter.raw),
                    shard_id=letter.shard_id,
                    stream_arn=letter.event_source_arn or DEFAULT_STREAM_ARN,
                )
            )
            by_stand_in[stand_in] = message
            originals[f"{letter.shard_id}:{stand_in}"] = letter
        if self.options.dry_run:
            classify(records, self.pipeline.event_map, self.stats.would)
            return
        self._letters.expect(originals)
        failed = self._run({"Records": records})
        self.stats.kept += sum(1 for seq in by_stand_in if seq in failed)
        self._delete([m for seq, m in by_stand_in.items() if seq not in failed])

    def _redrive_batch(self, message: Mapping[str, Any], batch: DiscardedBatch) -> None:
        if self.options.stream_arn is None:
            self.stats.refuse("discarded batch, but no stream is configured (--stream-arn)")
            return
        if batch.stream_arn != self.options.stream_arn:
            self.stats.refuse("discarded batch of another stream than the configured one")
            return
        kinesis = self._client("kinesis")
        self._letters.expect({})  # records of the stream: any letter is a first one
        complete, failed, read = True, False, 0
        pause = {"pause": self._pause} if self._pause is not None else {}
        try:
            pages = read_range(
                kinesis,
                batch.stream_name,
                batch.shard_id,
                batch.start_sequence,
                batch.end_sequence,
                page_size=self.options.page_size,
                **pause,
            )
            for index, page in enumerate(pages):
                if index == 0 and str(page[0]["SequenceNumber"]) != batch.start_sequence:
                    complete = False  # the first records are past the stream's retention
                self.stats.stream_records += len(page)
                read += len(page)
                self._seen.update(f"{batch.shard_id}:{record['SequenceNumber']}" for record in page)
                event = from_get_records(page, shard_id=batch.shard_id, stream_arn=batch.stream_arn)
                if self.options.dry_run:
                    classify(event["Records"], self.pipeline.event_map, self.stats.would)
                else:
                    failed |= bool(self._run(event))
                self._heartbeat.beat()
        except PueError as exc:
            self.stats.skip(f"stream range not readable: {exc.code or exc.message}")
            return
        if read == 0 or not complete:
            self.stats.skip("records no longer in the stream (retention)")
        elif failed:
            self.stats.kept += 1
        else:
            self._delete([message])

    def _run(self, event: dict[str, Any]) -> set[str]:
        """The pipeline on one Lambda-shaped event; the sequence numbers it reported for retry."""
        response, result = handle_event(event, self.pipeline)
        if result is not None:
            self.stats.counts.add(result.counts)
        return {str(item["itemIdentifier"]) for item in response["batchItemFailures"]}
