"""Where a batch's CPU goes, across all its threads: ``python -m tests.benchmarks --profile``.

Sampling profilers fall short here: pyinstrument follows one thread, and py-spy cannot tell a thread that
runs from one that waits for the GIL (its ``--gil`` mode caught a few hundred samples in a 15 s batch). So
this uses the standard library's cProfile, enabled around every task the thread pools run (the pipeline's
pool and the Pinpoint sink's) and around the batch in the calling thread, then merged. cProfile slows Python
code down, so read shares, not seconds; it inflates code made of many tiny calls (generators, builtins) most.
The clock is each thread's CPU time: waiting on a socket costs nothing.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import thread as futures_thread
from contextlib import contextmanager
from typing import Any

# (label, path fragment) in match order: the first fragment found in a function's file names its area.
AREAS = (
    ("pue: consumers", "/consumers/"),
    ("pue: destinations", "/destinations/"),
    ("pue: schemas", "/schemas/"),
    ("botocore", "/botocore/"),
    ("urllib3", "/urllib3/"),
    ("requests", "/requests/"),
    ("segment", "/segment/"),
    ("json", "/json/"),
    ("http.client + email (headers)", "/http/"),
    ("http.client + email (headers)", "/email/"),
    ("threads, futures, queues", "/concurrent/"),
    ("threads, futures, queues", "threading.py"),
    ("threads, futures, queues", "queue.py"),
)


@contextmanager
def all_threads() -> Iterator[list[cProfile.Profile]]:
    """Profile the calling thread and every task pool threads run meanwhile; yields the profiles."""
    profiles: list[cProfile.Profile] = []
    local = threading.local()
    lock = threading.Lock()
    original: Callable[..., Any] = futures_thread._WorkItem.run

    def run(item: Any) -> None:
        profile = getattr(local, "profile", None)
        if profile is None:
            profile = local.profile = cProfile.Profile(time.thread_time)
            with lock:
                profiles.append(profile)
        profile.enable()
        try:
            original(item)
        finally:
            profile.disable()

    # A private hook, for a diagnostic tool only: each pool task runs through _WorkItem.run in its thread.
    futures_thread._WorkItem.run = run  # type: ignore[method-assign,assignment]
    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        futures_thread._WorkItem.run = original  # type: ignore[method-assign]


def _area(filename: str) -> str:
    return next((label for label, fragment in AREAS if fragment in filename), "other (stdlib)")


def summary(profiles: list[cProfile.Profile], *, top: int = 25) -> str:
    """Own CPU by area, then the functions with the most own time."""
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    areas: dict[str, float] = {}
    for (filename, _, _), entry in raw.items():
        # Builtins (str.join, socket.sendall...) have no file: their time goes to the areas that called them.
        shares = (
            [(_area(caller[0]), timing[2]) for caller, timing in entry[4].items()]
            if filename == "~" and entry[4]
            else [(_area(filename), entry[2])]
        )
        for area, seconds in shares:
            areas[area] = areas.get(area, 0.0) + seconds
    lines = ["Own CPU time by area (cProfile, every thread):"]
    for label, seconds in sorted(areas.items(), key=lambda pair: -pair[1]):
        lines.append(f"  {seconds / total:6.1%}  {label}")
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    lines += ["", f"Top {top} functions by own time:", buffer.getvalue()]
    return "\n".join(lines)
