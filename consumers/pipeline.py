"""The Kinesis batch pipeline: decode → normalize → track → refresh → sinks, with per-record accounting.

Every record (after KPL deaggregation) ends in exactly one bucket: processed, filtered, dead-lettered or
failed. Failed records are reported to Lambda, which redelivers from the lowest failed sequence number;
every step is idempotent, so redelivery is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consumers.accounting import Entry, count, failed_sequence_numbers, reason_of, send_dead_letters
from consumers.decode import Decoded, decode_record
from consumers.event_map import EventMap
from consumers.grouping import Chunk, UserWork, group_by_user
from consumers.normalize import normalize
from consumers.refresh_gate import RefreshGate
from destinations.ports import (
    DeadLetterSink,
    EventTracker,
    PurchaseHistory,
    RecommendationSink,
    Recommender,
    RefreshLedger,
)
from schemas.batch import BatchCounts
from schemas.errors import ConfigError, PermanentError, PoisonRecord, PueError, RetryableError
from schemas.outcome import Filtered, Normalized, Poison, Tracked
from schemas.recommendation import Recommendation, RecommendationRequest

log = logging.getLogger("pue.pipeline")


@dataclass(slots=True)
class BatchResult:
    counts: BatchCounts
    failed_sequence_numbers: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _UserOutcome:
    work: UserWork
    recommendation: Recommendation | None = None
    tracked: int = 0
    failure: str | None = None
    rejected: list[tuple[frozenset[int], str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RefreshOptions:
    num_results: int
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    # Skip GetRecommendations and the sinks for a user refreshed less than this long ago (0: always
    # refresh). The user's events are tracked either way; only the write-back waits (docs/scaling.md).
    min_interval_seconds: float = 0.0


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
    ) -> None:
        """``counts_observer`` gets every batch's counts (and each ``track_and_refresh`` tracked or
        filtered): the local backend keeps running totals for ``GET /stats``."""
        self.tracker = tracker
        self.recommender = recommender
        self.sinks = tuple(sinks)
        self.dead_letters = dead_letters
        self.purchases = purchases
        self.event_map = event_map
        self.refresh = refresh
        self._counts_observer = counts_observer
        self.ledger = ledger
        self._gate = RefreshGate(ledger, refresh.min_interval_seconds)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="pue-user")
        # Backfill (issue 15): when a dict, ``handle`` tracks only and collects here the users to refresh
        # (user id -> last event id, the refresh key); ``refresh_users`` refreshes them later, once each.
        self.deferred_users: dict[str, str] | None = None
        # When set (a local replay), a batch's users are tracked one after another inside this scope (one
        # store transaction per batch, a savepoint per PutEvents call) instead of on the pool: one SQLite
        # file serialises writers anyway, and one commit per batch writes each touched page once.
        self.batch_scope: Callable[[], AbstractContextManager[object]] | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def handle(self, records: Sequence[Mapping[str, Any]]) -> BatchResult:
        started = time.perf_counter()
        entries = self._decode_all(records)
        works = group_by_user(
            (index, interaction)
            for index, entry in enumerate(entries)
            if isinstance(entry.outcome, Tracked)
            for interaction in entry.outcome.interactions
        )
        now = datetime.now(UTC)
        deferred = self.deferred_users
        users = [w.user_id for w in works if w.user_id is not None]
        recent = self._gate.recently_refreshed(users, now) if deferred is None else set(users)
        if self.batch_scope is not None:
            with self.batch_scope():
                outcomes = [self._track_and_recommend(work, refresh=False) for work in works]
            # Refresh once the batch is learned and committed, so each list sees the whole batch.
            for outcome in outcomes:
                user_id = outcome.work.user_id
                if outcome.failure is None and user_id is not None and user_id not in recent:
                    done = self._refresh_one((user_id, outcome.work.last_event_id))
                    outcome.recommendation, outcome.failure = done.recommendation, done.failure
        else:
            outcomes = list(
                self._pool.map(
                    lambda work: self._track_and_recommend(work, work.user_id not in recent), works
                )
            )
        counts = BatchCounts()
        for outcome in outcomes:
            self._settle_user(outcome, entries, counts)
            if deferred is not None and outcome.work.user_id is not None and outcome.tracked:
                deferred[outcome.work.user_id] = outcome.work.last_event_id
        refreshed = self._publish([o for o in outcomes if o.recommendation], entries)
        self._gate.note(refreshed, now)
        send_dead_letters(entries, self.dead_letters)
        counts.users_refreshed = len(refreshed)
        count(entries, counts)
        self._observe(counts)
        result = BatchResult(counts=counts, failed_sequence_numbers=failed_sequence_numbers(entries))
        self._log(counts, time.perf_counter() - started)
        return result

    def track_and_refresh(self, message: Mapping[str, Any], num_results: int | None = None) -> Recommendation:
        """One Segment message from an app (``POST /events``): track it, refresh its user, return the list.

        Raises ``PoisonRecord`` when the message can never be tracked, ``PermanentError`` when it is valid
        but not tracked (filtered) or has no user to refresh, ``RetryableError`` when a service failed
        (the caller may retry: event ids and sink message ids are deterministic).
        """
        outcome = self._normalize_message(message)
        if isinstance(outcome, Poison):
            raise PoisonRecord(outcome.reason)
        if isinstance(outcome, Filtered):
            self._observe(BatchCounts(records=1, filtered=1, filter_reasons={outcome.reason: 1}))
            raise PermanentError(f"not tracked: {outcome.reason}")
        works = group_by_user(enumerate(outcome.interactions))
        user = works[0]
        if user.user_id is None:
            raise PermanentError("an anonymous event has no user to recommend for: set userId")
        for chunk in user.chunks:
            self.tracker.put_events(chunk.batch)
        recommendation = self._recommend(user.user_id, user.last_event_id, num_results)
        for sink in self.sinks:
            report = sink.publish([recommendation])
            for error in report.failed.values():
                raise error
        tracked = len(outcome.interactions)
        self._observe(BatchCounts(records=1, processed=1, interactions=tracked, users_refreshed=1))
        return recommendation

    def refresh_users(self, users: Mapping[str, str]) -> tuple[set[str], dict[str, str]]:
        """Refresh these users now (GetRecommendations, every sink): (refreshed users, failure by user).

        For a backfill's deferred refreshes; the users' records were already accounted when tracked.
        """
        outcomes = list(self._pool.map(self._refresh_one, users.items()))
        failures = {o.work.user_id: o.failure for o in outcomes if o.failure and o.work.user_id}
        ok = [o for o in outcomes if o.recommendation is not None]
        entries: list[Entry] = []
        refreshed = self._publish(ok, entries)
        for outcome in ok:
            user_id = outcome.work.user_id
            if user_id is not None and user_id not in refreshed:
                failures[user_id] = "a sink failed (see the log)"
        self._gate.note(refreshed, datetime.now(UTC))
        self._observe(BatchCounts(users_refreshed=len(refreshed)))
        return refreshed, failures

    def _refresh_one(self, user: tuple[str, str]) -> _UserOutcome:
        return self._track_and_recommend(UserWork(key=f"u:{user[0]}", user_id=user[0], last_event_id=user[1]))

    def _observe(self, counts: BatchCounts) -> None:
        # The counts are observability: failing to keep them must not fail (and redeliver) the batch.
        if self._counts_observer is None:
            return
        try:
            self._counts_observer(counts)
        except PueError as exc:
            log.warning("counts not recorded", extra={"fields": {"reason": reason_of(exc)}})
        except Exception:
            log.exception("counts observer failed unexpectedly")

    def _normalize_message(self, message: Mapping[str, Any]) -> Normalized:
        try:
            return normalize(message, self.event_map)
        except Exception as exc:  # a bug must not block the shard: keep the bytes, say why
            log.exception("normalize failed unexpectedly")
            return Poison(f"internal error while normalizing: {type(exc).__name__}")

    # decode + normalize, one record at a time: one bad record never fails the batch

    def _decode_all(self, records: Sequence[Mapping[str, Any]]) -> list[Entry]:
        entries: list[Entry] = []
        for record in records:
            for item in decode_record(record):
                if isinstance(item, Decoded):
                    entries.append(Entry(item.ref, item.raw, self._normalize_message(item.message)))
                else:
                    entries.append(Entry(item.ref, item.raw, Poison(item.reason)))
        return entries

    # per user: PutEvents chunks in order, then GetRecommendations minus purchased

    def _track_and_recommend(self, work: UserWork, refresh: bool = True) -> _UserOutcome:
        outcome = _UserOutcome(work=work)
        try:
            for chunk in work.chunks:
                outcome.tracked += self._put_chunk(chunk, outcome)
            if work.user_id is not None and refresh:
                outcome.recommendation = self._recommend(work.user_id, work.last_event_id)
        except RetryableError as exc:
            outcome.failure = reason_of(exc)
        except ConfigError as exc:
            # Credentials or region gone at run time: not the records' fault. Retry them, loudly.
            log.error("configuration problem while calling a service", extra={"fields": {"reason": str(exc)}})
            outcome.failure = reason_of(exc)
        except PermanentError as exc:
            # The events are tracked; only the refresh cannot succeed (e.g. a user id Personalize rejects).
            log.warning("refresh rejected", extra={"fields": {"reason": reason_of(exc)}})
        except Exception as exc:
            log.exception("unexpected error for a user's work")
            outcome.failure = f"internal error: {type(exc).__name__}"
        return outcome

    def _put_chunk(self, chunk: Chunk, outcome: _UserOutcome) -> int:
        try:
            self.tracker.put_events(chunk.batch)
            return len(chunk.batch.interactions)
        except ConfigError:
            raise  # the setup, not these events: never dead-letter them for it
        except PermanentError as exc:
            if len(chunk.entries) == 1:
                outcome.rejected.append((chunk.entries, f"rejected by event tracker: {reason_of(exc)}"))
                return 0
        # Several records share the rejected call: send each record's events alone so only the bad
        # one is dead-lettered.
        return sum(self._put_chunk(part, outcome) for part in chunk.split_by_entry())

    def _recommend(self, user_id: str, refresh_key: str, num_results: int | None = None) -> Recommendation:
        request = RecommendationRequest(
            user_id=user_id,
            num_results=num_results or self.refresh.num_results,
            filter_arn=self.refresh.filter_arn,
            filter_values=self.refresh.filter_values,
        )
        recommendation = self.recommender.get_recommendations(request)
        if self.purchases is not None:
            recommendation = recommendation.without(self.purchases.purchased_items(user_id))
        return Recommendation(user_id, recommendation.recommendation_id, recommendation.items, refresh_key)

    def _settle_user(self, outcome: _UserOutcome, entries: list[Entry], counts: BatchCounts) -> None:
        counts.interactions += outcome.tracked
        for indices, reason in outcome.rejected:
            for index in indices:
                entries[index].rejection = reason
        if outcome.failure is not None:
            outcome.recommendation = None
            for index in outcome.work.entries:
                entries[index].failure = outcome.failure

    # sinks: one call per sink for the whole batch; failures come back per user

    def _publish(self, outcomes: list[_UserOutcome], entries: list[Entry]) -> set[str]:
        recommendations = [o.recommendation for o in outcomes if o.recommendation is not None]
        if not recommendations:
            return set()
        by_user = {o.work.user_id: o for o in outcomes}
        failed_users: set[str] = set()
        # Sinks are independent services: publish to all of them at once, so the batch waits for the slowest
        # sink, not for their sum (Segment's identify requests overlap Pinpoint's lookups; figure 2 of
        # tests/benchmarks). The pool is idle here: every user's work has finished.
        reports = list(self._pool.map(lambda sink: _deliver(sink, recommendations), self.sinks))
        for sink, failures in zip(self.sinks, reports, strict=True):
            for user_id, error in failures.items():
                failed_users.add(user_id)
                # A ConfigError (credentials, region) is the deployment's problem: retry, don't skip.
                if not error.retryable and not isinstance(error, ConfigError):
                    log.warning(
                        "sink rejected a user",
                        extra={"fields": {"sink": sink.name, "reason": reason_of(error)}},
                    )
                    continue
                user = by_user.get(user_id)
                for index in user.work.entries if user else ():
                    entries[index].failure = f"{sink.name}: {reason_of(error)}"
        return {r.user_id for r in recommendations} - failed_users

    @staticmethod
    def _log(counts: BatchCounts, seconds: float) -> None:
        fields: dict[str, object] = dict(counts.summary())
        fields.update(
            seconds=round(seconds, 4),
            filter_reasons=counts.filter_reasons,
            dead_letter_reasons=counts.dead_letter_reasons,
            failure_reasons=counts.failure_reasons,
        )
        log.info("batch", extra={"fields": fields})


def _deliver(sink: RecommendationSink, recommendations: list[Recommendation]) -> Mapping[str, PueError]:
    """One sink's failures by user id; whatever goes wrong inside the sink comes back as failures."""
    try:
        return sink.publish(recommendations).failed
    except PueError as exc:
        return {r.user_id: exc for r in recommendations}
    except Exception as exc:
        log.exception("sink failed unexpectedly", extra={"fields": {"sink": sink.name}})
        return {r.user_id: RetryableError(f"internal error: {type(exc).__name__}") for r in recommendations}
