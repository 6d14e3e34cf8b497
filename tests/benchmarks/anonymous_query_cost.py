"""A query for an anonymous visitor against one for a user with the same history, in one process.

    .venv/bin/python -m tests.benchmarks.anonymous_query_cost STATE_DIR [--queries 500]

STATE_DIR is a state directory a replay wrote (e.g. ``bench-results/scale/state-100000`` from ``make
bench-scale``); it is copied, never changed. In the copy, random known users each get a twin: an anonymous
visitor (anonymousId ``twin-<user>``, no userId) with the user's interactions, tracked through the tracker.
Then the user and its twin are ranked alternately (``LocalRecommender.get_recommendations``, what ``GET
/recommendations`` calls), so the machine's load falls on both alike: read the ratio. The twins' anchors
are the users' anchors, so what differs is the lookup: a session's actor instead of a user's and its links.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from destinations.local.recommender import DEFAULT_PURCHASE_EVENT_TYPES, LocalRecommender
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker
from schemas.interaction import EventBatch
from schemas.limits import PUT_EVENTS_MAX_EVENTS
from schemas.recommendation import RecommendationRequest
from tests.benchmarks.query_cost import NUM_RESULTS, print_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.anonymous_query_cost", description=__doc__.split("\n")[0]
    )
    parser.add_argument("state", type=Path, help="a state directory written by pue replay (copied)")
    parser.add_argument("--queries", type=int, default=500, help="users (and their twins) ranked")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pue-anon-cost-") as tmp:
        copy = Path(tmp) / "state"
        shutil.copytree(args.state, copy)
        with LocalStore.in_state_dir(copy) as store:
            recommender = LocalRecommender(store, DEFAULT_PURCHASE_EVENT_TYPES)
            users = random.Random(22).sample(store.known_users(limit=1_000_000), args.queries)  # noqa: S311
            tracker = LocalEventTracker(store, recommender)
            with tracker.batch():
                for user in users:
                    twin = [
                        replace(it, event_id=f"twin-{it.event_id}", user_id=None, session_id=f"twin-{user}")
                        for it in store.interactions_for(user)
                    ]
                    for start in range(0, len(twin), PUT_EVENTS_MAX_EVENTS):
                        chunk = tuple(twin[start : start + PUT_EVENTS_MAX_EVENTS])
                        tracker.put_events(EventBatch(f"twin-{user}", None, chunk))
            cpu: dict[str, list[float]] = {"user": [], "anonymous twin": []}
            for user in users:
                for name, who in (("user", user), ("anonymous twin", f"twin-{user}")):
                    started = time.thread_time()
                    recommender.get_recommendations(RecommendationRequest(who, num_results=NUM_RESULTS))
                    cpu[name].append(time.thread_time() - started)
    print_cpu(cpu)
    ratio = sum(cpu["anonymous twin"]) / sum(cpu["user"])
    print(f"anonymous / user mean CPU: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
