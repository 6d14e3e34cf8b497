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
)


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
    # Outside COUNT_FIELDS (the stable summary): users whose refresh a service refused for good (a user id
    # Personalize rejects, a sink refusing the list), and records failed by a deployment fault (ConfigError).
    refresh_rejected: int = 0
    deployment_faults: int = 0
    filter_reasons: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    failure_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.records == self.processed + self.filtered + self.dead_lettered + self.failed

    def add(self, other: BatchCounts) -> None:
        for name in (*COUNT_FIELDS, "refresh_rejected", "deployment_faults"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.filter_reasons, other.filter_reasons),
            (self.dead_letter_reasons, other.dead_letter_reasons),
            (self.failure_reasons, other.failure_reasons),
        ):
            for reason, n in theirs.items():
                mine[reason] = mine.get(reason, 0) + n

    def summary(self) -> dict[str, int]:
        """The stable, machine-readable summary (`pue replay`'s last line)."""
        return {name: getattr(self, name) for name in COUNT_FIELDS}
