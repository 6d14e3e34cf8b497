"""A record that can never be processed, kept whole with the reason, for inspection and redrive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Raw bytes as they arrived (after base64, before anything else) plus where they came from."""

    raw: bytes
    reason: str
    shard_id: str
    sequence_number: str
    sub_sequence_number: int | None = None
    event_source_arn: str | None = None
    # 1 when first dead-lettered; a redrive that dead-letters the record again writes attempt + 1.
    attempt: int = 1

    @property
    def letter_id(self) -> str:
        """Unique within a batch, stable across redeliveries (used for idempotent writes)."""
        sub = "" if self.sub_sequence_number is None else f":{self.sub_sequence_number}"
        return f"{self.shard_id}:{self.sequence_number}{sub}"
