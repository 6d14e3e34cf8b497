"""What refreshing anonymous visitors on the Kinesis path would add to a batch's calls (README figure 1).

    .venv/bin/python -m tests.benchmarks.anonymous_calls [--records 1000] [--anonymous-share 0.05]

Figure 1's batch (``tests.benchmarks.workload``: 1,000 records, Zipf users, a new anonymousId every 12
messages, 5 % of users never identify) is decoded and grouped by the pipeline's own code; the counts are
the distinct users it refreshes and the distinct anonymous-only sessions (tracked events, no userId) it
would refresh too. Each refresh costs one GetRecommendations, and per sink the calls figure 1 counts for a
user (pue makes the fewest possible: docs/performance.md): a Profile API read and an identify in Segment's
batches of 100, a GetUserEndpoints for Pinpoint (which has no endpoint for an anonymousId: none), and for
Customer Profiles a search and a put. Printed: calls per batch without and with anonymous refreshes.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime

from consumers.stream.event_map import EventMap
from consumers.stream.grouping import group_by_user
from consumers.stream.intake import decode_all
from schemas.outcome import Tracked
from tests.benchmarks.workload import WorkloadSpec, lambda_event

SEGMENT_BATCH = 100  # identifies per /v1/batch in figure 1 (within 500 KB)


def counts(spec: WorkloadSpec) -> tuple[int, int]:
    """(distinct users, distinct anonymous-only sessions) with tracked events in the batch."""
    entries = decode_all(lambda_event(spec)["Records"], EventMap.default(), datetime.now(UTC))
    works = group_by_user(
        (index, interaction)
        for index, entry in enumerate(entries)
        if isinstance(entry.outcome, Tracked)
        for interaction in entry.outcome.interactions
    )
    users = sum(1 for w in works if w.user_id is not None)
    return users, len(works) - users


def calls(refreshed: int) -> dict[str, int]:
    """Refresh calls for ``refreshed`` lists, per call type (figure 1's fewest possible)."""
    return {
        "GetRecommendations": refreshed,
        "Segment Profile API reads": refreshed,
        "Segment /v1/batch": math.ceil(refreshed / SEGMENT_BATCH),
        "Customer Profiles search + put": 2 * refreshed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.anonymous_calls", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000)
    parser.add_argument("--anonymous-share", type=float, default=WorkloadSpec(1).anonymous_share)
    args = parser.parse_args(argv)
    users, sessions = counts(WorkloadSpec(args.records, anonymous_share=args.anonymous_share))
    without, with_anonymous = calls(users), calls(users + sessions)
    report = {
        "records": args.records,
        "anonymous_share": args.anonymous_share,
        "users_refreshed": users,
        "anonymous_sessions": sessions,
        "calls_without": without,
        "calls_with_anonymous": with_anonymous,
        "extra_calls": sum(with_anonymous.values()) - sum(without.values()),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
