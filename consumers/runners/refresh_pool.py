"""A backfill's final refresh with its recommendations computed in worker processes.

The final refresh of a backfill is one GetRecommendations per distinct user (27,000 at 1M interactions):
read-only queries of the store, in Python, so one process runs them one core at a time. Here worker
processes compute the lists, each over its own connection to the same SQLite file (WAL: readers in other
processes see the last commit and never block the writer; the tracking is over and committed by then). The
main process keeps everything else of the refresh as it was: purchase exclusions, every sink write, the
refresh ledger, the counts and failures (``deferred_refresh.refresh_users`` with a ``PrefetchedRecommender``).

A list a worker could not compute is asked again in the main process, so an error there is handled (and
counted) exactly as without workers. Workers are spawned (the same on Linux and macOS) and ignore Ctrl-C:
the main process shuts the pool down; a worker whose main process was killed exits on its own
(``consumers.runners.parent_watch``), and multiprocessing's resource tracker follows once they have.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Final

from consumers.config.logs import configure_logging
from consumers.runners import pipe_pickle
from consumers.runners.parent_watch import exit_with_parent
from destinations.ports import Recommender
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem

log = logging.getLogger("pue.replay")

_worker_recommender: Recommender | None = None  # one per worker process, opened by _start_worker
# Lists per task: a stopped pool (Ctrl-C) waits for the tasks already running, so a fraction of a second.
TASK_LISTS: Final = 100
_REDUCERS: Final = pipe_pickle.reducers((RecommendationRequest, Recommendation, ScoredItem))


@dataclass(frozen=True, slots=True)
class RefreshWorkers:
    """How a backfill may spread its final refresh: ``open_recommender`` (picklable: a module-level
    function or a ``functools.partial`` of one) opens a recommender over the store in a worker process;
    ``workers`` processes are started when there are at least ``min_users`` users to refresh."""

    open_recommender: Callable[[], Recommender]
    workers: int
    min_users: int


class RecommendationPool:
    """Worker processes computing lists; ``lists`` hands them back in the order asked. ``close()``."""

    def __init__(self, setup: RefreshWorkers) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=setup.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(setup.open_recommender, logging.getLogger().getEffectiveLevel()),
        )

    def lists(
        self, chunks: Iterable[Sequence[RecommendationRequest]]
    ) -> Iterator[dict[str, tuple[RecommendationRequest, Recommendation]]]:
        """Per chunk, in order: user id -> (request, its list); a user whose list failed is left out."""
        parts: list[int] = []  # tasks per chunk
        tasks: list[Sequence[RecommendationRequest]] = []
        for chunk in chunks:
            mine = [chunk[start : start + TASK_LISTS] for start in range(0, len(chunk), TASK_LISTS)]
            parts.append(len(mine))
            tasks.extend(mine)
        results = self._executor.map(_compute, tasks)
        for count in parts:
            lists: dict[str, tuple[RecommendationRequest, Recommendation]] = {}
            for _ in range(count):
                lists.update(pickle.loads(next(results)))  # noqa: S301 - our own worker's bytes
            yield lists

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> RecommendationPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PrefetchedRecommender:
    """The ``Recommender`` port over lists computed already; anything else goes to ``fallback``."""

    def __init__(
        self, lists: Mapping[str, tuple[RecommendationRequest, Recommendation]], fallback: Recommender
    ) -> None:
        self._lists = lists
        self._fallback = fallback

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        found = self._lists.get(request.user_id or "")
        if found is not None and found[0] == request:
            return found[1]
        return self._fallback.get_recommendations(request)


def _start_worker(open_recommender: Callable[[], Recommender], log_level: int) -> None:
    global _worker_recommender
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    exit_with_parent()  # and when the main process is killed, this one ends too
    configure_logging(logging.getLevelName(log_level))
    _worker_recommender = open_recommender()


def _compute(requests: Sequence[RecommendationRequest]) -> bytes:
    """The lists of ``requests``, pickled (``pipe_pickle``): user id -> (request, list)."""
    if _worker_recommender is None:  # pragma: no cover - _start_worker always ran first
        raise RuntimeError("refresh worker without a recommender")
    lists = {}
    for request in requests:
        try:
            lists[request.user_id or ""] = (request, _worker_recommender.get_recommendations(request))
        except Exception as exc:  # asked again in the main process, which handles and counts the error
            log.debug("list left to the main process", extra={"fields": {"error": type(exc).__name__}})
    return pipe_pickle.dumps(lists, _REDUCERS)
