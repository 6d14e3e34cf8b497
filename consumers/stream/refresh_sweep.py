"""Deliver the refreshes the refresh interval postponed (``PUE_REFRESH_MIN_INTERVAL_SECONDS``).

A user with events inside the interval is tracked at once and owed one refresh, due when the interval since
its last refresh ends (``RefreshLedger.owe``). A sweep takes the due ones from the ledger, refreshes each
(GetRecommendations minus purchased, then every sink) and records the refresh, which settles the debt:
only the mark it read, so a mark a batch made while the sweep ran survives (``RefreshLedger.settle``).
It runs on AWS as a scheduled Lambda (``consumers.refresh_sweep_handler``, every minute), locally inside
``pue consume`` and as ``pue refresh-due``. Why a ledger sweep rather than delayed messages: docs/scaling.md.

Idempotent: a sweep that fails after a sink was written leaves the refresh owed; the next sweep writes the
same list again with the same refresh key (deterministic message ids), then records it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final

from consumers.stream.accounting import reason_of
from consumers.stream.filled_list import Filled
from destinations.ports import RecommendationSink
from schemas.errors import ConfigError, PueError, RetryableError
from schemas.recommendation import Recommendation
from schemas.refresh import OwedRefresh

if TYPE_CHECKING:
    from consumers.stream.pipeline import Pipeline

log = logging.getLogger("pue.refresh")

# Owed refreshes taken per sweep call: one call stays well inside a Lambda minute at ~50 ms per refresh
# on SWEEP_WORKERS threads; a longer backlog is taken by the next calls (the handler loops while time lasts).
SWEEP_MAX_USERS: Final = 500
SWEEP_WORKERS: Final = 16
# How often ``pue consume`` sweeps between polls: owed refreshes arrive at most this late locally.
CONSUME_SWEEP_PERIOD_SECONDS: Final = 5.0


@dataclass(slots=True)
class SweepResult:
    due: int = 0  # owed refreshes found due
    refreshed: int = 0  # written to every sink and recorded
    rejected: int = 0  # can never succeed (a user id the recommender refuses...): settled, logged
    failed: int = 0  # retryable or deployment faults: still owed, retried by the next sweep
    short: int = 0  # refreshed with fewer items than asked: purchases past the numResults cap
    failure_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: SweepResult) -> None:
        self.due += other.due
        self.refreshed += other.refreshed
        self.rejected += other.rejected
        self.failed += other.failed
        self.short += other.short
        for reason, n in other.failure_reasons.items():
            self.failure_reasons[reason] = self.failure_reasons.get(reason, 0) + n

    def summary(self) -> dict[str, int]:
        return {
            "due": self.due,
            "refreshed": self.refreshed,
            "rejected": self.rejected,
            "failed": self.failed,
            "short": self.short,
        }


def sweep_owed_refreshes(
    pipeline: Pipeline, *, now: datetime | None = None, limit: int = SWEEP_MAX_USERS
) -> SweepResult:
    """Refresh up to ``limit`` users whose owed refresh is due at ``now`` (default: the pipeline's clock).

    A ledger that cannot be read raises (the caller reports it: a scheduled Lambda fails loudly).
    """
    result = SweepResult()
    ledger = pipeline.ledger
    if ledger is None:
        return result
    now = now or pipeline.clock()
    owed = ledger.due(now, limit)
    result.due = len(owed)
    if not owed:
        return result
    with ThreadPoolExecutor(max_workers=min(SWEEP_WORKERS, len(owed))) as pool:
        outcomes = list(pool.map(lambda o: _recommend(pipeline, o), owed))
    recommendations = [r.recommendation for r in outcomes if isinstance(r, Filled)]
    short = {r.recommendation.user_id for r in outcomes if isinstance(r, Filled) and r.short}
    errors: dict[str, PueError] = {
        o.user_id: r for o, r in zip(owed, outcomes, strict=True) if isinstance(r, PueError)
    }
    for sink in pipeline.sinks:
        if not recommendations:
            break
        for user_id, error in _publish(sink, recommendations).items():
            errors.setdefault(user_id, error)
    settled: list[OwedRefresh] = []
    for item in owed:
        failure = errors.get(item.user_id)
        if failure is None:
            result.refreshed += 1
            result.short += item.user_id in short
            settled.append(item)
        elif failure.retryable or isinstance(failure, ConfigError):
            result.failed += 1
            reason = reason_of(failure)
            result.failure_reasons[reason] = result.failure_reasons.get(reason, 0) + 1
        else:
            # Retrying cannot help: settle it so the sweep does not ask again every minute.
            log.warning("owed refresh rejected", extra={"fields": {"reason": reason_of(failure)}})
            result.rejected += 1
            settled.append(item)
    if settled:
        # Conditional: a user marked owed again while this sweep computed (after a refresh in a batch)
        # keeps the new mark, and a refresh recorded after ``now`` keeps its time.
        ledger.settle(settled, now)
    fields = {**result.summary(), "failure_reasons": result.failure_reasons}
    log.info("owed refreshes swept", extra={"fields": fields})
    return result


def sweep_until_done(pipeline: Pipeline, keep_going: Callable[[], bool] = lambda: True) -> SweepResult:
    """Sweep calls of ``SWEEP_MAX_USERS`` until nothing is due, everything taken failed (it waits for the
    next run), or ``keep_going()`` says stop (a Lambda invocation running out of time)."""
    total = SweepResult()
    while True:
        result = sweep_owed_refreshes(pipeline)
        total.add(result)
        if result.due < SWEEP_MAX_USERS or result.failed == result.due or not keep_going():
            return total


def periodic_sweeper(
    pipeline: Pipeline,
    every: float = CONSUME_SWEEP_PERIOD_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], None] | None:
    """For a long-running local loop: a function that sweeps when ``every`` seconds have passed since its
    last sweep. A failed sweep is logged and tried again next period: it must not stop the stream's
    consumption (what it owes stays in the ledger). None when the refresh interval is off."""
    if pipeline.ledger is None:
        return None
    last = [float("-inf")]

    def tick() -> None:
        if clock() - last[0] < every:
            return
        last[0] = clock()
        try:
            sweep_until_done(pipeline)
        except PueError as exc:
            log.warning("owed refreshes not swept", extra={"fields": {"reason": reason_of(exc)}})

    return tick


def _recommend(pipeline: Pipeline, owed: OwedRefresh) -> Filled | PueError:
    try:
        return pipeline.recommend(owed.user_id, owed.refresh_key)
    except PueError as exc:
        return exc
    except Exception as exc:  # a bug must not lose the other users' refreshes: retried next sweep
        log.exception("owed refresh failed unexpectedly")
        return RetryableError(f"internal error: {type(exc).__name__}")


def _publish(sink: RecommendationSink, recommendations: list[Recommendation]) -> dict[str, PueError]:
    try:
        return dict(sink.publish(recommendations).failed)
    except PueError as exc:
        return {r.user_id: exc for r in recommendations}
    except Exception as exc:
        log.exception("sink failed unexpectedly", extra={"fields": {"sink": sink.name}})
        return {r.user_id: RetryableError(f"internal error: {type(exc).__name__}") for r in recommendations}
