"""Refreshes done apart from a user's tracking: a local replay's batch, and a backfill's final refresh.

In a local replay (``Pipeline.batch_scope`` set) a batch's users are tracked one after another inside one
store transaction, and refreshed only once the whole batch is learned and committed, so each list sees the
whole batch. A backfill (``consumers.runners.backfill``) tracks only, and refreshes each distinct user once
after the last batch (``refresh_users``): the users' records were accounted when they were tracked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from consumers.stream.accounting import reason_of
from consumers.stream.anonymous_refresh import refreshes
from consumers.stream.grouping import UserOutcome, UserWork
from consumers.stream.publish import publish
from consumers.stream.purchase_exclusions import BatchPurchases, PurchaseExclusions
from consumers.stream.refresh_gate import RefreshGate
from destinations.ports import RecommendationSink, Recommender
from schemas.batch import BatchCounts
from schemas.errors import ConfigError, PueError

log = logging.getLogger("pue.pipeline")


class RefreshHost(Protocol):
    """What these refreshes use of the pipeline (``consumers.stream.pipeline.Pipeline``)."""

    @property
    def sinks(self) -> Sequence[RecommendationSink]: ...

    @property
    def pool(self) -> Executor: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def exclusions(self) -> PurchaseExclusions: ...

    @property
    def gate(self) -> RefreshGate: ...

    def track_and_recommend(
        self,
        work: UserWork,
        refresh: bool,
        bought: BatchPurchases,
        recommender: Recommender | None = None,
        *,
        track: bool = True,
    ) -> UserOutcome: ...

    def observe(self, counts: BatchCounts) -> None: ...


def track_in_scope(
    host: RefreshHost,
    scope: Callable[[], AbstractContextManager[object]],
    works: Sequence[UserWork],
    recent: set[str],
    bought: BatchPurchases,
    visitors: bool = False,
) -> list[UserOutcome]:
    """Track every user of the batch inside ``scope`` (one store transaction), then refresh those not in
    ``recent`` (and the anonymous visitors when ``visitors``), once the batch is learned and committed.

    What the scope does when it ends (the local tracker stores and learns the batch's events then) may
    fail: then nothing of the batch was kept, and every user's records are reported for retry.
    """
    try:
        with scope():
            outcomes = [host.track_and_recommend(work, False, bought) for work in works]
    except Exception as exc:  # noqa: BLE001 - classified below; the batch is retried, never lost
        reason, deployment_fault = _failure_of(exc)
        return [UserOutcome(work, failure=reason, deployment_fault=deployment_fault) for work in works]
    for outcome in outcomes:
        if outcome.failure is None and refreshes(outcome.work, recent, visitors):
            done = host.track_and_recommend(outcome.work, True, bought, track=False)  # tracked above
            outcome.recommendation, outcome.failure = done.recommendation, done.failure
            outcome.deployment_fault = done.deployment_fault
            outcome.refresh_rejected = done.refresh_rejected
            outcome.list_short = done.list_short
    return outcomes


def refresh_one(
    host: RefreshHost, user: tuple[str, str], bought: BatchPurchases, recommender: Recommender | None = None
) -> UserOutcome:
    """GetRecommendations for (user id, refresh key), minus purchases; nothing tracked."""
    work = UserWork(key=f"u:{user[0]}", user_id=user[0], last_event_id=user[1])
    return host.track_and_recommend(work, True, bought, recommender)


def refresh_users(
    host: RefreshHost, users: Mapping[str, str], recommender: Recommender | None = None
) -> tuple[set[str], dict[str, str]]:
    """Refresh these users now (GetRecommendations, every sink): (refreshed users, failure by user).

    For a backfill's deferred refreshes; the users' records were already accounted when tracked.
    ``recommender``: where the lists come from instead of the host's own (computed elsewhere already).
    """
    bought = host.exclusions.prepare((), list(users))
    outcomes = list(host.pool.map(lambda user: refresh_one(host, user, bought, recommender), users.items()))
    failures = {o.work.user_id: o.failure for o in outcomes if o.failure and o.work.user_id}
    ok = [o.recommendation for o in outcomes if o.recommendation is not None]
    counts = BatchCounts()
    refreshed = publish(host.pool, host.sinks, ok, {}, [], counts)
    for recommendation in ok:
        if recommendation.user_id not in refreshed:
            failures[recommendation.user_id] = "a sink failed (see the log)"
    host.gate.note(refreshed, host.clock())
    counts.users_refreshed = len(refreshed)
    counts.lists_short = sum(o.list_short for o in outcomes)
    host.observe(counts)
    return refreshed, failures


def _failure_of(exc: Exception) -> tuple[str, bool]:
    """(reason, the operator must act) for a batch whose tracking scope failed as a whole."""
    if isinstance(exc, ConfigError):
        return reason_of(exc), True
    if isinstance(exc, PueError):
        # Retryable, or permanent: storing valid records cannot be the records' fault; retry, loudly.
        log.warning("a batch's tracking failed as a whole", extra={"fields": {"reason": reason_of(exc)}})
        return reason_of(exc), False
    log.exception("a batch's tracking failed unexpectedly")
    return f"internal error: {type(exc).__name__}", False
