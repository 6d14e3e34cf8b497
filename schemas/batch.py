"""The Lambda wire contract for Kinesis partial batch responses and pue's per-batch accounting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, TypedDict


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    """Returned by the Kinesis handler; Lambda retries from the lowest failed sequence number."""

    batchItemFailures: list[BatchItemFailure]


# The integer fields of BatchCounts, in the order summaries print them.
COUNT_FIELDS: Final = (
    "records",
    "processed",
    "filtered",
    "dead_lettered",
    "failed",
    "interactions",
    "users_refreshed",
    "timestamps_clamped",
)
# Every integer field: COUNT_FIELDS and the ones outside the stable summary (see BatchCounts).
EXTRA_COUNT_FIELDS: Final = (
    *COUNT_FIELDS,
    "refresh_rejected",
    "deployment_faults",
    "lists_short",
    "anonymous_refreshed",
    "anonymous_skipped",
)
# Reason keys are a fixed vocabulary (consumers.stream.normalize, consumers.stream.decode). Should an
# adapter's error text ever reach one, the count of distinct keys still stays bounded: past this many, the
# rest count as OTHER.
MAX_REASON_KEYS: Final = 64
OTHER_REASONS: Final = "other reasons"
# Input values kept beside their reason (unmapped event names): the heaviest this many, approximately
# (space-saving: a new name replaces the rarest one and inherits its count, so no heavy name is missed).
SAMPLE_SIZE: Final = 20


def count_reason(reasons: dict[str, int], reason: str, n: int = 1) -> None:
    """Add ``n`` under ``reason``, or under ``OTHER_REASONS`` once ``MAX_REASON_KEYS`` keys are taken."""
    if reason not in reasons and len(reasons) >= MAX_REASON_KEYS:
        reason = OTHER_REASONS
    reasons[reason] = reasons.get(reason, 0) + n


def count_sample(sample: dict[str, int], value: str, n: int = 1) -> None:
    """Add ``n`` to ``value`` in a sample of at most ``SAMPLE_SIZE`` values (space-saving)."""
    if value in sample or len(sample) < SAMPLE_SIZE:
        sample[value] = sample.get(value, 0) + n
        return
    rarest = min(sample, key=lambda key: (sample[key], key))
    sample[value] = sample.pop(rarest) + n


@dataclass(slots=True)
class BatchCounts:
    """Every record (after KPL deaggregation) lands in exactly one of the four buckets."""

    records: int = 0
    processed: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    failed: int = 0
    interactions: int = 0
    users_refreshed: int = 0
    timestamps_clamped: int = 0  # tracked records whose time lay in the future: clamped to their receipt
    # Outside COUNT_FIELDS (the stable summary): users whose refresh a service refused for good (a user id
    # Personalize rejects, a sink refusing the list), and records failed by a deployment fault (ConfigError).
    refresh_rejected: int = 0
    deployment_faults: int = 0
    # Lists published shorter than asked: the user's purchases outnumber what GetRecommendations' 500-item
    # cap leaves room for (consumers.stream.filled_list).
    lists_short: int = 0
    # PUE_REFRESH_ANONYMOUS: anonymous visitors whose fresh list reached every sink that can hold one, and
    # the lists a sink could not hold (Pinpoint has no endpoint for an anonymousId), by sink: not lost, not
    # retried, counted (consumers.stream.publish).
    anonymous_refreshed: int = 0
    anonymous_skipped: int = 0
    anonymous_skips: dict[str, int] = field(default_factory=dict)
    filter_reasons: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    unmapped_events: dict[str, int] = field(default_factory=dict)  # a SAMPLE_SIZE sample of event names

    @property
    def balanced(self) -> bool:
        return self.records == self.processed + self.filtered + self.dead_lettered + self.failed

    def add(self, other: BatchCounts) -> None:
        for name in EXTRA_COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.filter_reasons, other.filter_reasons),
            (self.dead_letter_reasons, other.dead_letter_reasons),
            (self.failure_reasons, other.failure_reasons),
            (self.anonymous_skips, other.anonymous_skips),
        ):
            for reason, n in theirs.items():
                count_reason(mine, reason, n)
        for name, n in other.unmapped_events.items():
            count_sample(self.unmapped_events, name, n)

    def summary(self) -> dict[str, int]:
        """The stable, machine-readable summary (`pue replay`'s last line)."""
        return {name: getattr(self, name) for name in COUNT_FIELDS}
