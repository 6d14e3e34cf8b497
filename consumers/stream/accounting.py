"""Per-record accounting of a batch: what became of each record, the counts, the dead letters and the
sequence numbers to report to Lambda.

Every record (after KPL deaggregation) ends in exactly one bucket: failed (retried by Lambda), dead-lettered,
filtered or processed, checked in that order, so a record whose dead letter could not be written is failed,
never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from consumers.stream.decode import RecordRef
from consumers.stream.grouping import UserOutcome
from destinations.ports import DeadLetterSink, RecommendationSink
from schemas.batch import BatchCounts, count_reason, count_sample
from schemas.dead_letter import DeadLetter
from schemas.errors import ConfigError, PueError, RetryableError
from schemas.interaction import Interaction
from schemas.outcome import Filtered, Normalized, Poison, Tracked
from schemas.recommendation import Recommendation

log = logging.getLogger("pue.pipeline")
TRACKER_REJECTED = "rejected by event tracker"


@dataclass(slots=True)
class Entry:
    """One user record of the batch and what became of it."""

    ref: RecordRef
    raw: bytes
    outcome: Normalized
    failure: str | None = None  # retryable: reported to Lambda
    rejection: str | None = None  # permanent: dead-lettered, with this reason in the letter
    rejection_key: str | None = None  # ... and counted under this one (no service text: bounded)
    deployment_fault: bool = False  # failed by a ConfigError: retried and reported, never dead-lettered


def reason_of(error: PueError) -> str:
    code = f" [{error.code}]" if error.code else ""
    service = f"{error.service}: " if error.service else ""
    return f"{service}{error.message}{code}"


def dead_reason(entry: Entry) -> str | None:
    if isinstance(entry.outcome, Poison):
        return entry.outcome.reason
    return entry.rejection


def send_dead_letters(entries: list[Entry], sink: DeadLetterSink) -> None:
    """Poison and rejected records to ``sink``, raw bytes kept; a letter that cannot be written fails its
    records (Lambda retries them), whatever the sink raised or reported."""
    letters: dict[str, tuple[DeadLetter, list[Entry]]] = {}
    for entry in entries:
        reason = dead_reason(entry)
        if reason is None or entry.failure is not None:
            continue
        letter = DeadLetter(
            raw=entry.raw,
            reason=reason,
            shard_id=entry.ref.shard_id,
            sequence_number=entry.ref.sequence_number,
            sub_sequence_number=entry.ref.sub_sequence_number,
            event_source_arn=entry.ref.event_source_arn,
        )
        letters.setdefault(letter.letter_id, (letter, []))[1].append(entry)
    if not letters:
        return
    try:
        failed: Mapping[str, PueError] = sink.send([letter for letter, _ in letters.values()]).failed
    except Exception as exc:  # whatever went wrong, the records must come back, not vanish
        if not isinstance(exc, PueError):
            log.exception("dead-letter sink failed unexpectedly")
        error = exc if isinstance(exc, PueError) else RetryableError(f"internal error: {type(exc).__name__}")
        failed = dict.fromkeys(letters, error)
    for letter_id, error in failed.items():
        for entry in letters[letter_id][1] if letter_id in letters else ():
            entry.failure = f"dead-letter sink: {reason_of(error)}"
            entry.deployment_fault = isinstance(error, ConfigError)


def count(entries: list[Entry], counts: BatchCounts) -> None:
    """Fill ``counts`` (records and the four buckets, with reasons) from what became of ``entries``."""
    counts.records = len(entries)
    for entry in entries:
        if entry.failure is not None:
            counts.failed += 1
            counts.deployment_faults += entry.deployment_fault
            _bump(counts.failure_reasons, entry.failure)
        elif (reason := dead_reason(entry)) is not None:
            counts.dead_lettered += 1
            _bump(counts.dead_letter_reasons, entry.rejection_key or reason)
        elif isinstance(entry.outcome, Filtered):
            counts.filtered += 1
            _bump(counts.filter_reasons, entry.outcome.reason)
            if entry.outcome.sample is not None:
                count_sample(counts.unmapped_events, entry.outcome.sample)
        else:
            counts.processed += 1
            if isinstance(entry.outcome, Tracked) and entry.outcome.time_clamped:
                counts.timestamps_clamped += 1


def deployment_causes(entries: list[Entry]) -> dict[str, int]:
    """Each distinct deployment fault of the batch and how many records it failed."""
    causes: dict[str, int] = {}
    for entry in entries:
        if entry.deployment_fault and entry.failure is not None:
            _bump(causes, entry.failure)
    return causes


def log_deployment_faults(entries: list[Entry]) -> None:
    """Once per batch, whatever the number of users or sinks that met them: each distinct deployment fault
    and the records it sent back for retry. An operator must act; the records wait in the stream."""
    causes = deployment_causes(entries)
    if causes:
        log.error(
            "deployment fault: records reported for retry until the deployment is fixed",
            extra={"fields": {"records": sum(causes.values()), "causes": causes}},
        )


def tracked_interactions(entries: list[Entry]) -> list[Interaction]:
    return [i for entry in entries if isinstance(entry.outcome, Tracked) for i in entry.outcome.interactions]


def failed_sequence_numbers(entries: list[Entry]) -> list[str]:
    """Unique parent sequence numbers (KPL sub-records report their parent), in arrival order."""
    seen: dict[str, None] = {}
    for entry in entries:
        if entry.failure is not None:
            seen.setdefault(entry.ref.sequence_number, None)
    return list(seen)


def _bump(reasons: dict[str, int], reason: str) -> None:
    count_reason(reasons, reason)


def deliver(sink: RecommendationSink, recommendations: list[Recommendation]) -> Mapping[str, PueError]:
    """One sink's failures by ``Recommendation.key``; whatever goes wrong inside the sink comes back as
    failures."""
    if not recommendations:
        return {}
    try:
        return sink.publish(recommendations).failed
    except PueError as exc:
        return {r.key: exc for r in recommendations}
    except Exception as exc:
        log.exception("sink failed unexpectedly", extra={"fields": {"sink": sink.name}})
        return {r.key: RetryableError(f"internal error: {type(exc).__name__}") for r in recommendations}


def settle_user(outcome: UserOutcome, entries: list[Entry], counts: BatchCounts) -> None:
    """Fold one user's outcome into the batch: counts, tracker rejections (dead letters), failures."""
    counts.interactions += outcome.tracked
    counts.refresh_rejected += outcome.refresh_rejected
    counts.lists_short += outcome.list_short
    for indices, error in outcome.rejected:
        for index in indices:
            # The letter keeps the service's words; the count's key stays a fixed vocabulary.
            entries[index].rejection = f"{TRACKER_REJECTED}: {reason_of(error)}"
            entries[index].rejection_key = f"{TRACKER_REJECTED} [{error.code or 'no code'}]"
    if outcome.failure is not None:
        outcome.recommendation = None
        for index in outcome.work.entries:
            entries[index].failure = outcome.failure
            entries[index].deployment_fault = outcome.deployment_fault
