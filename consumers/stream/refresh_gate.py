"""The refresh interval (``PUE_REFRESH_MIN_INTERVAL_SECONDS``): which users of a batch were refreshed too
recently to refresh again, and noting the ones that were. A skipped user is owed one refresh when the
interval ends (``consumers.stream.refresh_sweep`` delivers it): the interval delays a refresh, it never drops
one. Best effort: the ledger can fail a refresh's saving, never a record."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from destinations.ports import RefreshLedger

log = logging.getLogger("pue.pipeline")


class RefreshGate:
    def __init__(self, ledger: RefreshLedger | None, min_interval_seconds: float) -> None:
        self._ledger = ledger if min_interval_seconds > 0 else None
        self._interval = timedelta(seconds=min_interval_seconds)

    def recently_refreshed(self, user_ids: Sequence[str], now: datetime) -> set[str]:
        """Users refreshed within the interval before ``now``, now owed a refresh when it ends; nobody when
        off or when the ledger fails (refreshing them now beats owing a refresh that may never come)."""
        if self._ledger is None or not user_ids:
            return set()
        try:
            recent = self._ledger.refreshed_since(user_ids, now - self._interval)
            if recent:
                self._ledger.owe(sorted(recent), self._interval)
        except Exception as exc:  # refresh them all rather than fail or skip anyone
            log.warning("refresh ledger unreadable", extra={"fields": {"error": type(exc).__name__}})
            return set()
        if recent:
            log.debug("refresh postponed", extra={"fields": {"users": len(recent)}})
        return recent

    def note(self, user_ids: set[str], now: datetime) -> None:
        """Record the users whose refresh reached every sink (a failed one stays owed to the redelivery)."""
        if self._ledger is None or not user_ids:
            return
        try:
            self._ledger.record(sorted(user_ids), now)
        except Exception as exc:  # costs one refresh too many next time, nothing else
            log.warning("refresh ledger not updated", extra={"fields": {"error": type(exc).__name__}})
