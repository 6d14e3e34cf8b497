"""Replay as a backfill: track every batch, then refresh each distinct user once, at the end.

A Segment archive replays history: Lambda's per-batch refresh would recompute (and write to every sink) a
user's list in each batch the user appears in, only for the next batch to replace it. A backfill keeps
everything else of the batch semantics (decode, normalize, track, dead letters, per-record accounting) and
refreshes each user once, after the last batch, from the model the whole archive built.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import IO, Final

from consumers.runners.refresh_pool import PrefetchedRecommender, RecommendationPool, RefreshWorkers
from consumers.runners.replay import ReplayItem, replay
from consumers.stream.deferred_refresh import refresh_users
from consumers.stream.pipeline import Pipeline
from schemas.batch import BatchCounts
from schemas.recommendation import Recommendation, RecommendationRequest

REFRESH_CHUNK: Final = 500  # users per refresh round: bounds memory, gives progress on large archives


@dataclass(slots=True)
class BackfillResult:
    counts: BatchCounts
    refresh_failures: dict[str, int] = field(default_factory=dict)  # reason -> users

    @property
    def refresh_failed(self) -> int:
        return sum(self.refresh_failures.values())


def backfill(
    events: Iterable[ReplayItem],
    pipeline: Pipeline,
    progress: Callable[[BatchCounts, float], None] | None = None,
    refresh_progress: Callable[[int, int], None] | None = None,
    workers: RefreshWorkers | None = None,
) -> BackfillResult:
    """Track all of ``events``, then refresh every user that had events tracked, once (their lists
    computed by ``workers`` when given and there are enough users to pay for starting them)."""
    pipeline.deferred_users = {}
    try:
        counts = replay(events, pipeline, progress)
        users = pipeline.deferred_users
    finally:
        pipeline.deferred_users = None
    result = BackfillResult(counts)
    ordered = sorted(users)
    chunks = [ordered[start : start + REFRESH_CHUNK] for start in range(0, len(ordered), REFRESH_CHUNK)]
    with ExitStack() as stack:
        lists: Iterator[Mapping[str, tuple[RecommendationRequest, Recommendation]]] | None = None
        if workers is not None and workers.workers > 0 and len(ordered) >= workers.min_users:
            pool = stack.enter_context(RecommendationPool(workers))
            lists = pool.lists([[_request(pipeline, user) for user in chunk] for chunk in chunks])
        done = 0
        if refresh_progress and ordered:
            refresh_progress(0, len(ordered))
        for chunk in chunks:
            prefetched = None if lists is None else PrefetchedRecommender(next(lists), pipeline.recommender)
            refreshed, failures = refresh_users(pipeline, {user: users[user] for user in chunk}, prefetched)
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
