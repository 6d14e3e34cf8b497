"""``pue replay`` and ``pue sample``: the commands that feed the local backend from a file."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
from collections.abc import Callable, Iterable
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path
from typing import Any

from consumers.bootstrap.clients import local_recommender
from consumers.bootstrap.stream import build_pipeline
from consumers.cli.arguments import (
    EXIT_FAILED,
    EXIT_USAGE,
    STATE_HELP,
    Subparsers,
    local_settings,
    non_negative,
    positive,
    problem_line,
)
from consumers.cli.replay_report import EXIT_INPUT_INCOMPLETE, EXIT_STATUSES, ReplayEnd, report
from consumers.cli.stop_signals import StopSignals, Terminated, exit_status
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.runners.backfill import (
    ACTIVE_MAX_USERS,
    ACTIVE_MIN_EVENTS,
    REFRESH_USERS,
    BackfillResult,
    backfill,
    print_refresh_progress,
)
from consumers.runners.commit_groups import in_commit_groups
from consumers.runners.refresh_pool import RefreshWorkers
from consumers.runners.replay import (
    InputError,
    ReplayItem,
    events_from,
    is_lambda_event,
    print_progress,
    replay,
)
from consumers.runners.replay_intake import IntakeProcess, decoded_batches
from consumers.stream.pipeline import Pipeline
from destinations.local.live_inbox import backfill_lock
from schemas.errors import RetryableError
from schemas.limits import LAMBDA_KINESIS_MAX_BATCH_RECORDS
from schemas.recommendation import Recommendation

REPLAY_BATCH_SIZE = 500
# A backfill commits (and learns) once per batch, so bigger batches are faster: every commit writes the
# model pages the batch touched, at 1M interactions nearly all of them. Lambda's largest batch (10,000).
BACKFILL_BATCH_SIZE = LAMBDA_KINESIS_MAX_BATCH_RECORDS
# A backfill into the local store commits once per this many records' batches, not once per batch: each
# commit rewrites the model pages it dirtied (runners/commit_groups.py; docs/recommender.md).
BACKFILL_COMMIT_RECORDS = 100_000
# --workers: below these sizes, starting a process (~0.5 s of imports) costs more than it saves.
INTAKE_PROCESS_MIN_BYTES = 2 * 1024 * 1024  # a JSON-lines file this large is decoded in its own process
REFRESH_WORKERS_MIN_USERS = 1_000  # a final refresh of this many users has its lists computed by workers
# Each refresh worker adds ~50 MB at 1M interactions: with 2, the replay peaked at 254 MB (all processes),
# within its 300 MB budget (docs/recommender.md); more is a choice (--workers), not a default.
MAX_DEFAULT_WORKERS = 2
# A refresh worker's page cache: the main process keeps its own (LocalStore.CACHE_KIB) while it tracks.
REFRESH_WORKER_CACHE_KIB = 16 * 1024
# The main process's page cache during the final refresh, freed and cut down to this once every batch is
# tracked: it writes the sinks' rows while the workers read the model, and its 64 MB tracking cache beside
# the workers made the replay's peak RSS (docs/recommender.md, "Peak RSS at 1M").
REFRESH_MAIN_CACHE_KIB = 16 * 1024


def default_workers() -> int:
    """One per core, none on a one-core machine (where a second process only takes turns), at most 2."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, MAX_DEFAULT_WORKERS)


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="run Segment history or a saved Lambda event through the Kinesis handler (local backend)",
        description=textwrap.fill(
            "PATH is JSON lines of Segment messages (plain or .gz, as in a Segment S3 archive) or a Lambda "
            'Kinesis event document ({"Records": [...]}). The last line of stdout is a JSON summary: '
            "records, processed, filtered, dead_lettered, failed, interactions, users_refreshed, refresh "
            "(which refresh mode ran), refresh_failed, refresh_users, users_not_refreshed and stopped. A "
            "Segment archive replays as a backfill by default: every batch is tracked, and each chosen user "
            "(--refresh-users) is refreshed once at the end (recommendations computed, sinks written); the "
            "store commits once per 100,000 records' batches (a batch that fails is undone alone; after a "
            "crash, replay again: it is idempotent). A saved Lambda event keeps Lambda's semantics: users "
            "are refreshed in every batch they appear in. On a large input, a second process reads and "
            "decodes JSON lines one batch ahead of the main one, and worker processes compute the final "
            "refresh's lists (--workers); per-record accounting, dead letters and the summary are the same "
            "with or without them. Ctrl-C or SIGTERM stops after the batch in flight (again: at once), "
            "keeping what completed; the summary is printed however the replay ends.",
            width=100,
        ),
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("path", type=Path, metavar="PATH")
    replay.add_argument("--state", metavar="DIR", help=STATE_HELP)
    replay.add_argument(
        "--batch-size",
        type=positive,
        default=None,
        metavar="N",
        help="Kinesis records per Lambda batch (default 500; 10,000 for a backfill: "
        "the unit that is stored, learned and undone together)",
    )
    replay.add_argument(
        "--refresh",
        choices=("auto", "end", "batch"),
        default="auto",
        help="end: refresh each user once after the last batch (backfill); batch: refresh the users of "
        "every batch, as Lambda does; auto (default): end for JSON lines, batch for a Lambda event",
    )
    replay.add_argument(
        "--refresh-users",
        choices=REFRESH_USERS,
        default=None,
        help="which users a backfill refreshes at its end (recommendations computed and written to every "
        f"sink): all; active (the {ACTIVE_MAX_USERS:,} most active users, each with at least "
        f"{ACTIVE_MIN_EVENTS} events in the input); none. "
        "Default: active when every sink is local (the local API computes any user's list when asked), "
        "all when a cloud sink is configured. Users left out are counted in the summary "
        "(users_not_refreshed); a later event of theirs refreshes them",
    )
    replay.add_argument(
        "--workers",
        type=non_negative,
        default=None,
        metavar="N",
        help="processes besides the main one: with N >= 1, JSON lines over "
        f"{INTAKE_PROCESS_MIN_BYTES // (1024 * 1024)} MiB are read and decoded in one, and a final refresh "
        f"of at least {REFRESH_WORKERS_MIN_USERS:,} users has its lists computed by N; 0 runs everything "
        "in this process (default: the CPU count, at most 2; 0 on one core)",
    )
    replay.set_defaults(handler=_replay)

    sample = subparsers.add_parser(
        "sample",
        help="write the deterministic sample clickstream as Segment JSON lines (for replay, export)",
    )
    sample.add_argument("--users", type=positive, default=300, help="sample users (default 300)")
    sample.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="file to write (gzip when it ends in .gz); default stdout",
    )
    sample.set_defaults(handler=lambda args: write_sample(args.users, args.out))  # needs no settings


def _replay(args: argparse.Namespace) -> int:
    workers = default_workers() if args.workers is None else args.workers
    return replay_command(
        local_settings(args.state), args.path, args.batch_size, args.refresh, workers, args.refresh_users
    )


def local_engagement(settings: Settings) -> EngagementSettings:
    """Engagement settings of the local backend from the environment (no cloud-only setting is read)."""
    return EngagementSettings.local_from_env(settings=settings)


def replay_command(
    settings: Settings,
    path: Path,
    batch_size: int | None,
    refresh: str = "auto",
    workers: int = 0,
    refresh_users: str | None = None,
) -> int:
    """``refresh``: "end" (backfill), "batch" (Lambda's semantics) or "auto" (end unless a Lambda event).

    ``batch_size`` None: 500 records per batch as Lambda's default, or 10,000 for a backfill. ``workers``:
    processes besides this one (``--workers``; 0: none). ``refresh_users`` (a backfill's final refresh):
    "all", "active" or "none"; None: "active" when every sink is local, else "all".

    However it stops (the end of the input, a truncated file, Ctrl-C, SIGTERM) it prints the summary of
    what was kept, and the exit status says which (``replay_report.EXIT_STATUSES``).
    """
    pipeline, wiring = build_pipeline(settings, engagement=local_engagement(settings))
    if wiring.local is not None:
        pipeline.batch_scope = wiring.local.tracker.batch
    if refresh_users is None:
        refresh_users = "active" if all(_is_local(sink) for sink in pipeline.sinks) else "all"
    result = BackfillResult()
    end = ReplayEnd(refresh, refresh_users)
    try:
        with StopSignals("pue replay") as signals, ExitStack() as stack:
            lambda_event = is_lambda_event(path)
            if end.refresh == "auto":
                end.refresh = "batch" if lambda_event else "end"
            if batch_size is None:
                batch_size = BACKFILL_BATCH_SIZE if end.refresh == "end" else REPLAY_BATCH_SIZE
            events = _events(stack, path, lambda_event, batch_size, workers, pipeline)
            tracked = None
            if end.refresh == "end" and wiring.local is not None:
                per_group = max(1, BACKFILL_COMMIT_RECORDS // batch_size)
                store = wiring.local.store
                tracked = partial(store.release_cache, REFRESH_MAIN_CACHE_KIB)
                # While the groups run, pue serve on this state dir queues POST /events (live_inbox.py).
                held = backfill_lock(settings.state_dir)
                grouped = in_commit_groups(events, store.commit_group, per_group, held)
                events = stack.enter_context(closing(grouped))
            try:
                _run(settings, events, pipeline, end, workers, result, lambda: signals.requested, tracked)
            except KeyboardInterrupt as exc:  # a second Ctrl-C or SIGTERM: the batch in flight is undone
                end.stopped, end.code = _signal_name(exc), exit_status(exc)
            if end.stopped is None and signals.signal is not None:
                end.stopped, end.code = signal.Signals(signals.signal).name, exit_status(signals.signal)
    except InputError as exc:
        sys.stderr.write(problem_line("replay", exc))
        if not result.counts.records:
            return EXIT_USAGE  # nothing was read: no such file, not gzip, not JSON lines
        end.stopped, end.code = "input ended early", EXIT_INPUT_INCOMPLETE
    except RetryableError as exc:
        # e.g. the store gave up a commit group (a full disk): the message says what was lost and what to do
        sys.stderr.write(problem_line("replay", exc))
        return EXIT_FAILED
    finally:
        pipeline.close()
    return report(result, end)


def _run(
    settings: Settings,
    events: Iterable[ReplayItem],
    pipeline: Pipeline,
    end: ReplayEnd,
    workers: int,
    result: BackfillResult,
    stop: Callable[[], bool],
    tracked: Callable[[], None] | None = None,
) -> None:
    if end.refresh != "end":
        replay(events, pipeline, print_progress(), result.counts, stop)
        return
    helpers = RefreshWorkers(
        partial(local_recommender, settings.state_dir, pipeline.event_map, REFRESH_WORKER_CACHE_KIB),
        workers,
        REFRESH_WORKERS_MIN_USERS,
    )
    backfill(
        events,
        pipeline,
        print_progress(),
        print_refresh_progress(),
        helpers,
        refresh_users=end.refresh_users,
        result=result,
        stop=stop,
        on_tracked=tracked,
    )


def _events(
    stack: ExitStack, path: Path, lambda_event: bool, batch_size: int, workers: int, pipeline: Pipeline
) -> Iterable[ReplayItem]:
    # A Lambda event goes through the handler as Lambda would call it; JSON lines are decoded straight into
    # the batches its Lambda events would give (no base64 round trip), in a process of their own when there
    # are enough of them.
    if lambda_event:
        return events_from(path, batch_size)
    if workers and path.stat().st_size >= INTAKE_PROCESS_MIN_BYTES:
        return stack.enter_context(IntakeProcess(path, batch_size, pipeline.event_map))
    return decoded_batches(path, batch_size, pipeline.event_map)


def _is_local(sink: object) -> bool:
    return type(sink).__module__.startswith("destinations.local.")


def _signal_name(stop: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"


def recommendation_json(recommendation: Recommendation) -> dict[str, Any]:
    return {
        "userId": recommendation.user_id,
        "recommendationId": recommendation.recommendation_id,
        "items": [{"itemId": i.item_id, "score": i.score} for i in recommendation.items],
    }


def write_sample(users: int, out: Path | None) -> int:
    import gzip

    from consumers.runners.sample_data import clickstream

    lines = "".join(json.dumps(m) + "\n" for m in clickstream(users=users))
    if out is None:
        sys.stdout.write(lines)
    elif out.suffix == ".gz":
        with gzip.open(out, "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        out.write_text(lines, encoding="utf-8")
    return 0
