"""A refresh the refresh interval postponed (``PUE_REFRESH_MIN_INTERVAL_SECONDS``): owed, not dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class OwedRefresh:
    """``user_id`` had events while its last refresh was less than the interval old; it is refreshed once
    at ``due_at`` (last refresh + interval), however many events it had in between."""

    user_id: str
    due_at: datetime
    # The mark exactly as the ledger holds it (its stored due time, verbatim), so a sweep's clear can be
    # conditional on it: a mark made while the sweep ran differs and survives (``RefreshLedger.settle``).
    # Empty: compare with ``due_at`` instead. Not part of equality: the same owed refresh either way.
    mark: str = field(default="", compare=False)

    @property
    def refresh_key(self) -> str:
        """Stable per owed refresh: a sink's message id derived from it is the same when a sweep retries."""
        return f"owed@{self.due_at.timestamp():.3f}"
