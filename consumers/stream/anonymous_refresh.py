"""Anonymous visitors on the Kinesis path (``PUE_REFRESH_ANONYMOUS``): which works of a batch are refreshed,
and an anonymous visitor's fresh list.

An anonymous visitor is an actor known only by its Segment anonymousId: its events are tracked with that id
as the sessionId and no userId. Personalize answers such a visitor when its sessionId is passed as the userId
of GetRecommendations ("Recording events for anonymous users",
https://docs.aws.amazon.com/personalize/latest/dg/recording-anonymous-user-events.html), so the list follows
the visitor's clicks in real time. With the setting on, each distinct anonymous visitor of a batch gets one
GetRecommendations and its list goes to the sinks that can hold one (``RecommendationSink.takes_anonymous``:
Segment, Customer Profiles); the others skip it, counted (``consumers.stream.publish``). Off by default: it
adds 3 % to the calls of figure 1's batch (5 % of users never log in), 48 % when half of them never do, 167 %
at 90 % (docs/performance.md, ``tests/benchmarks/anonymous_calls.py``).

Not in the refresh interval (``PUE_REFRESH_MIN_INTERVAL_SECONDS``): the refresh ledger and its sweep are per
user, and a visitor's refresh happens in the batch that holds its events or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from consumers.stream.filled_list import Filled, filled
from consumers.stream.grouping import UserWork
from destinations.ports import RecommendationSink, Recommender
from schemas.recommendation import Recommendation, RecommendationRequest

log = logging.getLogger("pue.pipeline")

NOWHERE = (
    "PUE_REFRESH_ANONYMOUS is on, but no configured sink can hold an anonymous visitor's list (Segment and "
    "Customer Profiles can; Pinpoint and the local store cannot): anonymous visitors are not refreshed"
)


def anonymous_refreshes(setting: bool, sinks: Sequence[RecommendationSink]) -> bool:
    """Whether a batch refreshes its anonymous visitors: the setting, and somewhere to write their lists (a
    GetRecommendations whose answer no sink keeps would only cost)."""
    if not setting:
        return False
    if not any(sink.takes_anonymous for sink in sinks):
        log.warning(NOWHERE)
        return False
    return True


def refreshes(work: UserWork, recent: Collection[str], visitors: bool) -> bool:
    """Whether ``work`` is refreshed in this batch: a user not refreshed too recently, or an anonymous visitor
    when ``visitors``."""
    if work.user_id is not None:
        return work.user_id not in recent
    return visitors and work.anonymous_id is not None


def visitors_of(work: UserWork) -> tuple[str, ...]:
    """The anonymousIds a user's events of the batch carried (an identify after login carries both ids):
    their sessions other than the user id itself, first seen first."""
    sessions = (chunk.batch.session_id for chunk in work.chunks)
    return tuple(dict.fromkeys(s for s in sessions if s != work.user_id))


def visitor_list(
    work: UserWork,
    recommender: Recommender,
    request: RecommendationRequest,
    purchase_event_types: frozenset[str],
    *,
    widen: bool,
) -> Filled:
    """An anonymous visitor's list (``request`` asks for its anonymousId), minus what it bought among its
    own events of the batch: the purchase ledger and the Profile API know users only."""
    assert work.anonymous_id is not None  # noqa: S101 - refreshes() chose an anonymous work
    excluded = frozenset(
        interaction.item_id
        for chunk in work.chunks
        for interaction in chunk.batch.interactions
        if interaction.item_id and interaction.event_type in purchase_event_types
    )
    fill = filled(recommender, request, excluded, widen=widen)
    got = fill.recommendation
    answer = Recommendation(
        work.anonymous_id, got.recommendation_id, got.items, work.last_event_id, anonymous=True
    )
    return Filled(answer, fill.short)
