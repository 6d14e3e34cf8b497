"""Replay as a backfill: track every batch, then refresh each distinct user once, at the end.

A Segment archive replays history: Lambda's per-batch refresh would recompute (and write to every sink) a
user's list in each batch the user appears in, only for the next batch to replace it. A backfill keeps
everything else of the batch semantics (decode, normalize, track, dead letters, per-record accounting) and
refreshes each user once, after the last batch, from the model the whole archive built.

Which users: ``refresh_users`` "all" (every user with events tracked), "active" (the ``ACTIVE_MAX_USERS``
most active, each with at least ``ACTIVE_MIN_EVENTS`` events in the input: most visitors of a real archive
are seen once or twice, and refreshing each of them costs more than tracking their events) or "none". A
user left out has nothing written to the sinks now; the local API computes a list when asked, and a later
event refreshes them.
"""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import IO, Final

from consumers.runners.refresh_pool import PrefetchedRecommender, RecommendationPool, RefreshWorkers
from consumers.runners.replay import ReplayItem, replay
from consumers.stream import deferred_refresh
from consumers.stream.pipeline import Pipeline
from schemas.batch import BatchCounts
from schemas.recommendation import Recommendation, RecommendationRequest

REFRESH_CHUNK: Final = 500  # users per refresh round: bounds memory, gives progress on large archives
# --refresh-users active: the ACTIVE_MAX_USERS users with the most events in the input, each with at least
# ACTIVE_MIN_EVENTS, are refreshed at the end. A bound, so a backfill's refresh costs the same however many
# visitors the archive has (most of a real archive's are seen once or twice: one or two anchors and the
# popular items, a list computed as well when asked for: pue recommend, GET /recommendations); the most
# active are the users the page lists first and the ones whose written list says most.
ACTIVE_MIN_EVENTS: Final = 3
ACTIVE_MAX_USERS: Final = 1_000
REFRESH_USERS: Final = ("all", "active", "none")


@dataclass(slots=True)
class BackfillResult:
    counts: BatchCounts = field(default_factory=BatchCounts)
    refresh_failures: dict[str, int] = field(default_factory=dict)  # reason -> users
    users_not_refreshed: int = 0  # left out by the choice of users, or by a stop before their turn
    stopped: bool = False  # a stop was asked for: the input or the refresh was not finished

    @property
    def refresh_failed(self) -> int:
        return sum(self.refresh_failures.values())


def chosen_users(tracked: Mapping[str, int], which: str) -> set[str]:
    """The users ``--refresh-users`` ``which`` refreshes, of ``tracked`` (user -> events in the input)."""
    if which == "all":
        return set(tracked)
    if which == "active":
        active = [(-events, user) for user, events in tracked.items() if events >= ACTIVE_MIN_EVENTS]
        return {user for _, user in heapq.nsmallest(ACTIVE_MAX_USERS, active)}
    if which == "none":
        return set()
    raise ValueError(f"refresh users: one of {', '.join(REFRESH_USERS)}, got {which!r}")


def backfill(
    events: Iterable[ReplayItem],
    pipeline: Pipeline,
    progress: Callable[[BatchCounts, float], None] | None = None,
    refresh_progress: Callable[[int, int], None] | None = None,
    workers: RefreshWorkers | None = None,
    *,
    refresh_users: str = "all",
    result: BackfillResult | None = None,
    stop: Callable[[], bool] | None = None,
    on_tracked: Callable[[], None] | None = None,
) -> BackfillResult:
    """Track all of ``events``, then refresh the users ``refresh_users`` chooses of those that had events
    tracked, once (their lists computed by ``workers`` when given and there are enough users to pay for
    starting them). ``result`` is filled as the work goes (a caller interrupted half-way still has what was
    done); ``stop`` is asked after each batch and each refresh round: True ends the backfill there.
    ``on_tracked`` is called once every batch is tracked, before the refresh (the local store gives back
    its page cache: the refresh's processes then run beside a smaller main process)."""
    result = BackfillResult() if result is None else result
    stopping = stop or (lambda: False)
    pipeline.deferred_users, pipeline.deferred_tracked = {}, {}
    try:
        replay(events, pipeline, progress, result.counts, stopping)
        users, tracked = pipeline.deferred_users, pipeline.deferred_tracked
    finally:
        pipeline.deferred_users, pipeline.deferred_tracked = None, None
    chosen = chosen_users(tracked, refresh_users)
    result.users_not_refreshed = len(users) - len(chosen)
    if stopping():  # the input was not read to its end: the lists would not be the archive's
        result.stopped, result.users_not_refreshed = True, len(users)
        return result
    if on_tracked is not None:
        on_tracked()
    ordered = sorted(chosen)
    chunks = [ordered[start : start + REFRESH_CHUNK] for start in range(0, len(ordered), REFRESH_CHUNK)]
    counts = result.counts
    with ExitStack() as stack:
        lists: Iterator[Mapping[str, tuple[RecommendationRequest, Recommendation]]] | None = None
        if workers is not None and workers.workers > 0 and len(ordered) >= workers.min_users:
            pool = stack.enter_context(RecommendationPool(workers))
            lists = pool.lists([[_request(pipeline, user) for user in chunk] for chunk in chunks])
        done = 0
        if refresh_progress and ordered:
            refresh_progress(0, len(ordered))
        for chunk in chunks:
            if stopping():
                result.stopped = True
                result.users_not_refreshed += len(ordered) - done
                break
            prefetched = None if lists is None else PrefetchedRecommender(next(lists), pipeline.recommender)
            refreshed, failures = deferred_refresh.refresh_users(
                pipeline, {user: users[user] for user in chunk}, prefetched
            )
            counts.users_refreshed += len(refreshed)
            for reason in failures.values():
                result.refresh_failures[reason] = result.refresh_failures.get(reason, 0) + 1
            done += len(chunk)
            if refresh_progress:
                refresh_progress(done, len(ordered))
    return result


def _request(pipeline: Pipeline, user: str) -> RecommendationRequest:
    # A plain dict crosses to the worker process (the settings may hold a read-only mapping view).
    request = pipeline.refresh_request(user)
    return replace(request, filter_values=dict(request.filter_values))


def print_refresh_progress(stream: IO[str] | None = None) -> Callable[[int, int], None]:
    """A progress line for the final refresh; its rate counts from the call with ``done`` 0 (the refresh's
    start, not the replay's)."""
    started = time.perf_counter()

    def show(done: int, total: int) -> None:
        nonlocal started
        if done == 0:
            started = time.perf_counter()
        out = stream or sys.stderr
        if not out.isatty():
            return
        rate = done / max(time.perf_counter() - started, 1e-9)
        out.write(f"\r  refreshed {done:>8} of {total} users  {rate:>7.0f} users/s")
        out.flush()

    return show
