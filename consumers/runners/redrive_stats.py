"""What ``pue redrive`` is asked to do and what it did: its options, its counts, its JSON summary, and a dry
run's classification of records."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from consumers.stream.decode import Decoded, decode_record
from consumers.stream.event_map import EventMap
from consumers.stream.normalize import normalize
from schemas.batch import BatchCounts
from schemas.outcome import Filtered, Poison

log = logging.getLogger("pue.redrive")
# A letter is parked once it failed this many times for good (its attempt count): left on the queue and
# never rewritten again, unless a later run is given a higher --max-attempts.
DEFAULT_MAX_ATTEMPTS: Final = 3


@dataclass(frozen=True, slots=True)
class RedriveOptions:
    limit: int | None = None  # messages to take, at most
    dry_run: bool = False
    wait_seconds: int = 2  # long polling: an empty answer then means an empty queue, not a missed sample
    visibility_timeout: int = 300  # seconds a taken message stays hidden; a kept one reappears after it
    page_size: int = 500  # stream records per pipeline batch for a discarded batch
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # a letter with this attempt count is parked, not redriven
    # What the stack wrote, the only places a message may send the redrive to read (issue 23): S3 letters
    # under this bucket's dead-letter prefix (PUE_DEAD_LETTER_BUCKET), discarded batches of this stream.
    dead_letter_bucket: str | None = None
    stream_arn: str | None = None


@dataclass(slots=True)
class RedriveStats:
    messages: int = 0  # taken off the queue and looked at
    deleted: int = 0  # every record ended processed, filtered or dead-lettered again
    kept: int = 0  # a record failed for retry: left on the queue
    skipped: int = 0  # not redrivable as is: left on the queue, reasons below
    skip_reasons: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # names what pue would never write (another bucket or stream, oversized): left, reasons
    refuse_reasons: dict[str, int] = field(default_factory=dict)
    parked: int = 0  # letters at --max-attempts: left on the queue, not rewritten
    dead_letters: int = 0  # messages holding one record
    discarded_batches: int = 0  # messages naming a stream range
    stream_records: int = 0  # records read back from the stream for them
    counts: BatchCounts = field(default_factory=BatchCounts)  # what the pipeline made of the records
    would: dict[str, int] = field(default_factory=dict)  # dry run: processed/filtered/dead_lettered

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1

    def refuse(self, reason: str) -> None:
        self.refused += 1
        self.refuse_reasons[reason] = self.refuse_reasons.get(reason, 0) + 1
        log.warning("message refused, left on the queue", extra={"fields": {"reason": reason}})

    def summary(self, dry_run: bool) -> dict[str, object]:
        summary: dict[str, object] = {
            "dry_run": dry_run,
            "messages": self.messages,
            "deleted": self.deleted,
            "kept": self.kept,
            "skipped": self.skipped,
            "refused": self.refused,
            "parked": self.parked,
            "dead_letters": self.dead_letters,
            "discarded_batches": self.discarded_batches,
            "stream_records": self.stream_records,
            "skip_reasons": self.skip_reasons,
            "refuse_reasons": self.refuse_reasons,
        }
        if dry_run:
            summary["would"] = self.would
        else:
            summary.update(self.counts.summary())
            summary["failure_reasons"] = self.counts.failure_reasons
        return summary


def classify(records: Sequence[Mapping[str, Any]], event_map: EventMap, would: dict[str, int]) -> None:
    """Dry run: decode and normalize only (no service is called), and count in ``would`` what would happen."""
    for record in records:
        for item in decode_record(record):
            outcome = normalize(item.message, event_map) if isinstance(item, Decoded) else None
            kind = (
                "dead_lettered"
                if outcome is None or isinstance(outcome, Poison)
                else "filtered"
                if isinstance(outcome, Filtered)
                else "processed"
            )
            would[kind] = would.get(kind, 0) + 1
