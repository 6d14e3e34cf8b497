"""What ``pue replay`` says when it ends, however it ends: the summary of what was kept, and its exit status.

The last line of stdout is the JSON summary; stderr has the reasons (filtered, dead-lettered, failed), the
users left out of the final refresh, and, when the input was not read to its end, why and what was kept.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from consumers.cli.arguments import EXIT_FAILED, EXIT_USAGE, top_reasons
from consumers.runners.backfill import ACTIVE_MAX_USERS, ACTIVE_MIN_EVENTS, BackfillResult
from schemas.batch import BatchCounts

# The input ended before its end (a truncated or corrupt .gz): what was read before it is kept.
EXIT_INPUT_INCOMPLETE = 3
EXIT_STATUSES = f"""exit status:
  0    the whole input was read; every record processed, filtered or dead-lettered; every chosen
       user refreshed
  {EXIT_FAILED}    some records failed (reported for retry) or refreshes failed (see the summary and
       stderr); or the store rolled back a commit group (nothing of it kept, no summary)
  {EXIT_USAGE}    nothing was read: no such file, not JSON lines nor a Lambda event; or a bad option
  {EXIT_INPUT_INCOMPLETE}    the input ended early (a truncated or corrupt .gz): the batches read before
       it are kept
  130  stopped by Ctrl-C, 143 by SIGTERM: the batches that completed are kept
Every status but 2 prints the summary of what was kept; its "stopped" says why the input was not
read to its end (null: it was)."""

_LEFT_OUT = {
    "active": f"all but the {ACTIVE_MAX_USERS:,} most active with at least {ACTIVE_MIN_EVENTS} events",
    "none": "every user",
    "all": "none",
}


@dataclass(slots=True)
class ReplayEnd:
    """How a replay ended: its refresh mode and users, and why it stopped early (None: it did not)."""

    refresh: str
    refresh_users: str
    stopped: str | None = None
    code: int = 0  # the exit status a stop asks for (0: from the counts)


def report(result: BackfillResult, end: ReplayEnd) -> int:
    """Print what was kept (stderr: reasons and stops; stdout: the JSON summary); return the exit status."""
    counts, refresh_failures = result.counts, result.refresh_failures
    sys.stderr.write("\n")
    print_reasons(counts)
    if refresh_failures:
        sys.stderr.write(f"refresh failed: {top_reasons(refresh_failures, 10)}\n")
    if end.stopped is not None:
        _print_stop(end.stopped, counts, result.users_not_refreshed if end.refresh == "end" else 0)
    elif result.users_not_refreshed:
        sys.stderr.write(
            f"not refreshed: {result.users_not_refreshed:,} users (--refresh-users {end.refresh_users}: "
            f"{_LEFT_OUT[end.refresh_users]}); their lists are computed when asked for (pue recommend, "
            "GET /recommendations); --refresh-users all writes every user's to the sinks now\n"
        )
    summary: dict[str, object] = dict(counts.summary())
    summary.update(
        refresh=end.refresh,
        refresh_failed=sum(refresh_failures.values()),
        refresh_users=end.refresh_users if end.refresh == "end" else "batch",
        users_not_refreshed=result.users_not_refreshed,
        stopped=end.stopped,
    )
    sys.stdout.write(json.dumps(summary) + "\n")
    if end.code:
        return end.code
    return EXIT_FAILED if counts.failed or refresh_failures else 0


def _print_stop(stopped: str, counts: BatchCounts, not_refreshed: int) -> None:
    kept = f"the {counts.records:,} records of the batches that completed are kept ({counts.interactions:,} "
    kept += "interactions); the rest of the input was not read"
    if not_refreshed:
        kept += f", and {not_refreshed:,} users were not refreshed"
    sys.stderr.write(
        f"pue replay: stopped ({stopped}): {kept}. Replaying the same input again is safe (events already "
        "stored are skipped) and refreshes its users at the end.\n"
    )


def print_reasons(counts: BatchCounts) -> None:
    for title, reasons in (
        ("filtered", counts.filter_reasons),
        ("dead-lettered", counts.dead_letter_reasons),
        ("failed", counts.failure_reasons),
    ):
        if reasons:
            sys.stderr.write(f"{title}: {top_reasons(reasons, 10)}\n")
    if counts.unmapped_events:  # a bounded sample (schemas.batch.SAMPLE_SIZE), counts are upper bounds
        sys.stderr.write(f"unmapped events (most frequent): {top_reasons(counts.unmapped_events, 10)}\n")
