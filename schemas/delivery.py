"""What a batch write to a destination reports back: which keys failed, and how."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.errors import PueError


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """``failed`` maps a key (a user id, a dead letter id) to the error that stopped it.

    Batch APIs (UpdateEndpointsBatch, SendMessageBatch) succeed partially; adapters check every entry and
    report here instead of raising for the whole batch.
    """

    failed: Mapping[str, PueError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


DELIVERED = DeliveryReport()
