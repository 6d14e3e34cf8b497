"""What ``pue redrive`` is asked to do and what it did: its options, its counts and its JSON summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.batch import BatchCounts


@dataclass(frozen=True, slots=True)
class RedriveOptions:
    limit: int | None = None  # messages to take, at most
    dry_run: bool = False
    wait_seconds: int = 2  # long polling: an empty answer then means an empty queue, not a missed sample
    visibility_timeout: int = 300  # seconds a taken message stays hidden; a kept one reappears after it
    page_size: int = 500  # stream records per pipeline batch for a discarded batch


@dataclass(slots=True)
class RedriveStats:
    messages: int = 0  # taken off the queue and looked at
    deleted: int = 0  # every record ended processed, filtered or dead-lettered again
    kept: int = 0  # a record failed for retry: left on the queue
    skipped: int = 0  # not redrivable as is: left on the queue, reasons below
    skip_reasons: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0  # messages holding one record
    discarded_batches: int = 0  # messages naming a stream range
    stream_records: int = 0  # records read back from the stream for them
    counts: BatchCounts = field(default_factory=BatchCounts)  # what the pipeline made of the records
    would: dict[str, int] = field(default_factory=dict)  # dry run: processed/filtered/dead_lettered

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1

    def summary(self, dry_run: bool) -> dict[str, object]:
        summary: dict[str, object] = {
            "dry_run": dry_run,
            "messages": self.messages,
            "deleted": self.deleted,
            "kept": self.kept,
            "skipped": self.skipped,
            "dead_letters": self.dead_letters,
            "discarded_batches": self.discarded_batches,
            "stream_records": self.stream_records,
            "skip_reasons": self.skip_reasons,
        }
        if dry_run:
            summary["would"] = self.would
        else:
            summary.update(self.counts.summary())
            summary["failure_reasons"] = self.counts.failure_reasons
        return summary
