"""A record that can never be processed, kept whole with the reason, for inspection and redrive."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

UNKNOWN: Final = "unknown"  # a shard or sequence number the record did not carry
_CONTENT_ID_HEX: Final = 16  # 64 bits of SHA-256: distinct records without an identity never collide


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
        """Unique within a batch, stable across redeliveries (used for idempotent writes).

        A record without a Kinesis identity (a hand-made or damaged event) is named by its content too, so
        two different ones never share an id (the store keeps one letter per id); the same bytes twice are
        one letter, as a redelivery is."""
        sub = "" if self.sub_sequence_number is None else f":{self.sub_sequence_number}"
        content = ""
        if UNKNOWN in (self.shard_id, self.sequence_number):
            content = "#" + hashlib.sha256(self.raw).hexdigest()[:_CONTENT_ID_HEX]
        return f"{self.shard_id}:{self.sequence_number}{sub}{content}"
