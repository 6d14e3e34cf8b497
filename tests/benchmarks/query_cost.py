"""The local recommender's per-query CPU with the default against the previous default, in one process.

    .venv/bin/python -m tests.benchmarks.query_cost STATE_DIR [--queries 1000]

STATE_DIR is a state directory a replay wrote (e.g. ``tests.benchmarks.scale``'s
``bench-results/scale/state-100000``). Both parameter sets rank the same random known users, alternately,
so a shared machine's load falls on both alike: the ratio is what to read, not the absolute times.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Final

from destinations.local.recommender import DEFAULT_PURCHASE_EVENT_TYPES, LocalRecommender, ModelParameters
from destinations.local.store import LocalStore
from schemas.recommendation import RecommendationRequest

CONFIGS: Final = {
    "default": ModelParameters(),
    "without the session neighbours (session_weight 0)": ModelParameters(session_weight=0.0),
    "previous default (30 anchors, decay 0.9, no lift)": ModelParameters(
        anchors=30, decay=0.9, anchor_damping=0.5, lift=0.0, session_weight=0.0
    ),
}
NUM_RESULTS: Final = 25  # as tests.benchmarks.scale's GET /recommendations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.query_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("state", type=Path, help="a state directory written by pue replay")
    parser.add_argument("--queries", type=int, default=1_000, help="users ranked by each parameter set")
    args = parser.parse_args(argv)
    with LocalStore.in_state_dir(args.state) as store:
        users = store.known_users(limit=1_000_000)
        if not users:
            parser.error(f"{args.state} has no known users: replay an archive into it first")
        recommenders = {
            name: LocalRecommender(store, DEFAULT_PURCHASE_EVENT_TYPES, params)
            for name, params in CONFIGS.items()
        }
        rng = random.Random(15)  # noqa: S311 - benchmark sampling
        cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(args.queries):
            request = RecommendationRequest(rng.choice(users), num_results=NUM_RESULTS)
            for name, recommender in recommenders.items():
                started = time.thread_time()
                recommender.get_recommendations(request)
                cpu[name].append(time.thread_time() - started)
    print_cpu(cpu)
    return 0


def print_cpu(cpu: dict[str, list[float]]) -> None:
    """p50 / p99 / mean CPU milliseconds of each name's query times (seconds)."""
    for name, times in cpu.items():
        times = sorted(times)
        print(
            f"{name}: CPU p50 {times[len(times) // 2] * 1e3:.2f} ms, "
            f"p99 {times[int(len(times) * 0.99)] * 1e3:.2f} ms, mean {sum(times) / len(times) * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    raise SystemExit(main())
