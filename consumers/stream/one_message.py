"""One Segment message from an app (``POST /events``), outside a Kinesis batch: track it, refresh its user
(or answer its anonymous visitor), return the list. ``Pipeline.track_and_refresh`` delegates here.

Raises ``PoisonRecord`` when the message can never be tracked, ``PermanentError`` when it is valid but not
tracked (filtered), ``RetryableError`` when a service failed (the caller may retry: event ids and sink
message ids are deterministic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from consumers.stream.event_map import EventMap
from consumers.stream.filled_list import Filled
from consumers.stream.grouping import UserWork, group_by_user
from consumers.stream.intake import normalize_message
from consumers.stream.purchase_exclusions import BatchPurchases, PurchaseExclusions
from destinations.ports import EventTracker, RecommendationSink
from schemas.batch import BatchCounts
from schemas.errors import PermanentError, PoisonRecord
from schemas.outcome import Filtered, Poison
from schemas.recommendation import Recommendation


class MessageHost(Protocol):
    """What a message's refresh uses of the pipeline (``consumers.stream.pipeline.Pipeline``)."""

    @property
    def event_map(self) -> EventMap: ...
    @property
    def tracker(self) -> EventTracker: ...
    @property
    def sinks(self) -> Sequence[RecommendationSink]: ...
    @property
    def refresh_anonymous(self) -> bool: ...
    @property
    def exclusions(self) -> PurchaseExclusions: ...

    def observe(self, counts: BatchCounts) -> None: ...
    def visitor_fill(self, work: UserWork, num_results: int | None = None) -> Filled: ...
    def fresh_list(
        self, user_id: str, refresh_key: str, bought: BatchPurchases, num_results: int | None = None
    ) -> Filled: ...


def track_and_refresh(
    pipeline: MessageHost, message: Mapping[str, Any], num_results: int | None
) -> Recommendation:
    outcome = normalize_message(message, pipeline.event_map, datetime.now(UTC))
    if isinstance(outcome, Poison):
        raise PoisonRecord(outcome.reason)
    if isinstance(outcome, Filtered):
        sample = {} if outcome.sample is None else {outcome.sample: 1}
        counts = BatchCounts(
            records=1, filtered=1, filter_reasons={outcome.reason: 1}, unmapped_events=sample
        )
        pipeline.observe(counts)
        raise PermanentError(f"not tracked: {outcome.reason}")  # the reason, never the input behind it
    user = group_by_user(enumerate(outcome.interactions))[0]
    for chunk in user.chunks:
        pipeline.tracker.put_events(chunk.batch)
    if user.anonymous_id is not None:
        # An anonymous visitor (no userId) is answered for its anonymousId, the events' session: what
        # Personalize answers for a sessionId passed as the userId. Its list goes only to the sinks that can
        # hold one, and only with PUE_REFRESH_ANONYMOUS, as on the stream (anonymous_refresh).
        fill = pipeline.visitor_fill(user, num_results)
        sinks = [s for s in pipeline.sinks if s.takes_anonymous and pipeline.refresh_anonymous]
    else:
        assert user.user_id is not None  # noqa: S101 - grouping gives a work a user id or an anonymousId
        bought = pipeline.exclusions.prepare(outcome.interactions, [user.user_id])
        bought.raise_for(user.user_id)
        fill = pipeline.fresh_list(user.user_id, user.last_event_id, bought, num_results)
        sinks = list(pipeline.sinks)
    recommendation = fill.recommendation
    for sink in sinks:
        report = sink.publish([recommendation])
        for error in report.failed.values():
            raise error
    pipeline.observe(
        BatchCounts(
            records=1,
            processed=1,
            interactions=len(outcome.interactions),
            users_refreshed=int(user.user_id is not None),
            anonymous_refreshed=int(user.user_id is None and bool(sinks)),
            timestamps_clamped=int(outcome.time_clamped),
            lists_short=int(fill.short),
        )
    )
    return recommendation
