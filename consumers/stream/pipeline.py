"""The Kinesis batch pipeline: decode → normalize → track → refresh → sinks, with per-record accounting.

Every record (after KPL deaggregation) ends in exactly one bucket: processed, filtered, dead-lettered or
failed. Failed records are reported to Lambda, which redelivers from the lowest failed sequence number;
every step is idempotent, so redelivery is harmless.

Decode + normalize is ``consumers.stream.intake``; refreshes apart from tracking (a local replay's batch,
a backfill's final refresh) are ``consumers.stream.deferred_refresh``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consumers.config.metrics import MetricsSettings, log_batch
from consumers.stream import accounting, one_message
from consumers.stream.accounting import (
    Entry,
    count,
    failed_sequence_numbers,
    reason_of,
    send_dead_letters,
    settle_user,
)
from consumers.stream.anonymous_refresh import anonymous_refreshes, refreshes, visitor_list, visitors_of
from consumers.stream.deferred_refresh import track_in_scope
from consumers.stream.event_map import EventMap
from consumers.stream.filled_list import Filled, filled
from consumers.stream.grouping import Chunk, UserOutcome, UserWork, group_by_user
from consumers.stream.intake import decode_all
from consumers.stream.publish import publish
from consumers.stream.purchase_exclusions import BatchPurchases, PurchaseExclusions
from consumers.stream.refresh_gate import RefreshGate
from consumers.stream.refresh_options import RefreshOptions as RefreshOptions  # re-exported
from destinations.ports import (
    DeadLetterSink,
    EventTracker,
    PurchaseHistory,
    PurchaseLedger,
    RecommendationSink,
    Recommender,
    RefreshLedger,
)
from schemas.batch import BatchCounts
from schemas.errors import ConfigError, PermanentError, PueError, RetryableError
from schemas.outcome import Tracked
from schemas.recommendation import Recommendation, RecommendationRequest

log = logging.getLogger("pue.pipeline")


@dataclass(slots=True)
class BatchResult:
    counts: BatchCounts
    failed_sequence_numbers: list[str] = field(default_factory=list)


class Pipeline:
    """Wired once per container by ``consumers.bootstrap``; ``handle`` runs once per Lambda batch."""

    def __init__(
        self,
        *,
        tracker: EventTracker,
        recommender: Recommender,
        sinks: Sequence[RecommendationSink],
        dead_letters: DeadLetterSink,
        purchases: PurchaseHistory | None,
        event_map: EventMap,
        refresh: RefreshOptions,
        max_workers: int,
        counts_observer: Callable[[BatchCounts], None] | None = None,
        ledger: RefreshLedger | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: MetricsSettings | None = None,
        purchase_ledger: PurchaseLedger | None = None,
        sink_pool: Executor | None = None,
    ) -> None:
        """``counts_observer`` gets every batch's counts (and each ``track_and_refresh`` tracked or
        filtered): the local backend keeps running totals for ``GET /stats``. ``sink_pool``: where the sinks
        fan out; the pipeline owns it as its per-user pool, and ``close`` shuts both down."""
        self.tracker = tracker
        self.recommender = recommender
        self.sinks = tuple(sinks)
        self.dead_letters = dead_letters
        self.purchases = purchases
        self.event_map = event_map
        self.refresh = refresh
        self._counts_observer = counts_observer
        self.ledger = ledger
        self.metrics = metrics  # EMF members on the batch line (None: the line alone)
        self.gate = RefreshGate(ledger, refresh.min_interval_seconds)
        self.clock = clock  # the refresh interval's time (tests inject one)
        self.exclusions = PurchaseExclusions(purchase_ledger, purchases, event_map.purchase_event_types)
        self.refresh_anonymous = anonymous_refreshes(refresh.anonymous, self.sinks)
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="pue-user")
        self._sink_pool = sink_pool  # not the per-user pool: sinks wait on it from per-user threads
        # Backfill (issue 15): when a dict, ``handle`` tracks only and collects here the users to refresh
        # (user id -> last event id, the refresh key), each refreshed once later (deferred_refresh).
        self.deferred_users: dict[str, str] | None = None
        self.deferred_tracked: dict[str, int] | None = None  # with it, user id -> events tracked
        # When set (a local replay), a batch's users are tracked one after another inside this scope (one
        # store transaction per batch: the local tracker stores and learns the batch's events when it
        # ends) instead of on the pool: one SQLite file serialises writers anyway.
        self.batch_scope: Callable[[], AbstractContextManager[object]] | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        if self._sink_pool is not None:
            self._sink_pool.shutdown(wait=True)

    def handle(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        started = time.perf_counter()
        return self.handle_entries(decode_all(records, self.event_map, datetime.now(UTC)), started)

    def handle_entries(self, entries: list[Entry], started: float | None = None) -> BatchResult:
        """``handle`` for records decoded already (``consumers.stream.intake``, e.g. in another process)."""
        started = time.perf_counter() if started is None else started
        works = group_by_user(
            (index, interaction)
            for index, entry in enumerate(entries)
            if isinstance(entry.outcome, Tracked)
            for interaction in entry.outcome.interactions
        )
        now = self.clock()
        deferred = self.deferred_users
        users = [w.user_id for w in works if w.user_id is not None]
        recent = self.gate.recently_refreshed(users, now) if deferred is None else set(users)
        bought = self.exclusions.prepare(
            accounting.tracked_interactions(entries), [u for u in users if u not in recent]
        )
        # A backfill refreshes its users once at the end, and no anonymous visitor (deferred_refresh).
        visitors = self.refresh_anonymous and deferred is None
        if self.batch_scope is not None:
            outcomes = track_in_scope(self, self.batch_scope, works, recent, bought, visitors)
        else:
            outcomes = list(
                self.pool.map(
                    lambda work: self.track_and_recommend(work, refreshes(work, recent, visitors), bought),
                    works,
                )
            )
        counts = BatchCounts()
        for outcome in outcomes:
            settle_user(outcome, entries, counts)
            if deferred is not None and outcome.work.user_id is not None and outcome.tracked:
                deferred[outcome.work.user_id] = outcome.work.last_event_id
                if self.deferred_tracked is not None:
                    user = outcome.work.user_id
                    self.deferred_tracked[user] = self.deferred_tracked.get(user, 0) + outcome.tracked
        lists = [o.recommendation for o in outcomes if o.recommendation is not None]
        refreshed = publish(
            self.pool,
            self.sinks,
            lists,
            {o.recommendation.key: o.work.entries for o in outcomes if o.recommendation is not None},
            entries,
            counts,
        )
        refreshed_users = {r.user_id for r in lists if not r.anonymous and r.key in refreshed}
        self.gate.note(refreshed_users, now)  # the interval is per user: see anonymous_refresh
        send_dead_letters(entries, self.dead_letters)
        counts.users_refreshed = len(refreshed_users)
        counts.anonymous_refreshed = len(refreshed) - len(refreshed_users)
        count(entries, counts)
        self.observe(counts)
        result = BatchResult(counts=counts, failed_sequence_numbers=failed_sequence_numbers(entries))
        accounting.log_deployment_faults(entries)
        log_batch(counts, time.perf_counter() - started, self.metrics)
        return result

    def track_and_refresh(self, message: Mapping[str, Any], num_results: int | None = None) -> Recommendation:
        """One Segment message from an app (``POST /events``): track it, refresh its user (or answer its
        anonymous visitor), return the list (``consumers.stream.one_message``)."""
        return one_message.track_and_refresh(self, message, num_results)

    def observe(self, counts: BatchCounts) -> None:
        # The counts are observability: failing to keep them must not fail (and redeliver) the batch.
        if self._counts_observer is None:
            return
        try:
            self._counts_observer(counts)
        except PueError as exc:
            log.warning("counts not recorded", extra={"fields": {"reason": reason_of(exc)}})
        except Exception:
            log.exception("counts observer failed unexpectedly")

    # per user: PutEvents chunks in order, then GetRecommendations minus purchased

    def track_and_recommend(
        self,
        work: UserWork,
        refresh: bool,
        bought: BatchPurchases,
        recommender: Recommender | None = None,
        *,
        track: bool = True,
    ) -> UserOutcome:
        """``recommender``: where the list comes from instead of ``self.recommender`` (lists computed
        elsewhere already: ``consumers.runners.refresh_pool``). ``track=False``: the events are tracked
        already (a local replay's batch scope), only refresh."""
        outcome = UserOutcome(work=work)
        try:
            for chunk in work.chunks if track else ():
                outcome.tracked += self._put_chunk(chunk, outcome)
            bought.raise_for(work.user_id)  # a purchase unrecorded or unread: retry, don't guess
            if work.user_id is not None and refresh:
                fill = self.fresh_list(work.user_id, work.last_event_id, bought, recommender=recommender)
                linked = visitors_of(work)
                outcome.recommendation = dataclasses.replace(fill.recommendation, anonymous_ids=linked)
                outcome.list_short = fill.short
            elif work.anonymous_id is not None and refresh:
                fill = self.visitor_fill(work, recommender=recommender)
                outcome.recommendation, outcome.list_short = fill.recommendation, fill.short
        except RetryableError as exc:
            outcome.failure = reason_of(exc)
        except ConfigError as exc:
            # A permission, a token, a tracker gone: not the records' fault. Retried; the batch logs it once.
            outcome.failure = reason_of(exc)
            outcome.deployment_fault = True
        except PermanentError as exc:
            # The events are tracked; only the refresh cannot succeed (e.g. a user id Personalize rejects).
            log.warning("refresh rejected", extra={"fields": {"reason": reason_of(exc)}})
            outcome.refresh_rejected = True
        except Exception as exc:
            log.exception("unexpected error for a user's work")
            outcome.failure = f"internal error: {type(exc).__name__}"
        return outcome

    def _put_chunk(self, chunk: Chunk, outcome: UserOutcome) -> int:
        try:
            self.tracker.put_events(chunk.batch)
            return len(chunk.batch.interactions)
        except ConfigError:
            raise  # the setup, not these events: never dead-letter them for it
        except PermanentError as exc:
            if len(chunk.entries) == 1:
                outcome.rejected.append((chunk.entries, exc))
                return 0
        # Several records share the rejected call: send each record's events alone so only the bad
        # one is dead-lettered.
        return sum(self._put_chunk(part, outcome) for part in chunk.split_by_entry())

    def recommend(self, user_id: str, refresh_key: str) -> Filled:
        """A fresh list for ``user_id`` minus purchased items, outside a batch (an owed refresh)."""
        bought = self.exclusions.prepare((), [user_id])
        bought.raise_for(user_id)
        return self.fresh_list(user_id, refresh_key, bought)

    def answer(self, request: RecommendationRequest) -> Recommendation:
        """An API query's list for its user (its own numResults and filter): minus what the user bought
        (the purchase ledger and the Profile API alike), filled to numResults as the stream's lists are."""
        user_id = request.user_id
        if user_id is None:
            raise PermanentError("a user's list needs a user id")
        bought = self.exclusions.prepare((), [user_id])
        bought.raise_for(user_id)
        excluded = self.exclusions.excluded(user_id, bought)
        return filled(
            self.recommender, request, excluded, widen=self.refresh.widen_for_exclusions
        ).recommendation

    def refresh_request(self, user_id: str, num_results: int | None = None) -> RecommendationRequest:
        """The GetRecommendations request of a refresh of ``user_id``."""
        return RecommendationRequest(
            user_id=user_id,
            num_results=num_results or self.refresh.num_results,
            filter_arn=self.refresh.filter_arn,
            filter_values=self.refresh.filter_values,
        )

    def visitor_fill(
        self, work: UserWork, num_results: int | None = None, recommender: Recommender | None = None
    ) -> Filled:
        """An anonymous visitor's list, by its anonymousId (``anonymous_refresh.visitor_list``)."""
        assert work.anonymous_id is not None  # noqa: S101 - the callers chose an anonymous work
        request = self.refresh_request(work.anonymous_id, num_results)
        types = self.event_map.purchase_event_types
        widen = self.refresh.widen_for_exclusions
        return visitor_list(work, recommender or self.recommender, request, types, widen=widen)

    def fresh_list(
        self,
        user_id: str,
        refresh_key: str,
        bought: BatchPurchases,
        num_results: int | None = None,
        recommender: Recommender | None = None,
    ) -> Filled:
        """``user_id``'s list minus what ``bought`` and the Profile API say it bought, keyed for its sinks."""
        request = self.refresh_request(user_id, num_results)
        excluded = self.exclusions.excluded(user_id, bought)
        fill = filled(
            recommender or self.recommender, request, excluded, widen=self.refresh.widen_for_exclusions
        )
        got = fill.recommendation
        return Filled(Recommendation(user_id, got.recommendation_id, got.items, refresh_key), fill.short)
