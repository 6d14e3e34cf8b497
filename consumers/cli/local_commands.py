"""``pue replay`` and ``pue sample``: the commands that feed the local backend from a file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path
from typing import Any

from consumers.bootstrap.clients import local_recommender
from consumers.bootstrap.stream import build_pipeline
from consumers.cli.arguments import (
    EXIT_FAILED,
    STATE_HELP,
    Subparsers,
    local_settings,
    non_negative,
    positive,
    top_reasons,
)
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.runners.backfill import backfill, print_refresh_progress
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
from schemas.batch import BatchCounts
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
# A refresh worker's page cache: the main process keeps its own (LocalStore.CACHE_KIB).
REFRESH_WORKER_CACHE_KIB = 16 * 1024


def default_workers() -> int:
    """One per core, none on a one-core machine (where a second process only takes turns), at most 2."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, MAX_DEFAULT_WORKERS)


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="run Segment history or a saved Lambda event through the Kinesis handler (local backend)",
        description="PATH is JSON lines of Segment messages (plain or .gz, as in a Segment S3 archive) or a "
        'Lambda Kinesis event document ({"Records": [...]}). The last line of stdout is a JSON summary: '
        "records, processed, filtered, dead_lettered, failed, interactions, users_refreshed, refresh "
        "(which refresh mode ran) and refresh_failed. A Segment archive replays as a backfill by default: "
        "every batch is tracked, and each distinct user is refreshed once at the end (recommendations "
        "computed, sinks written); the store commits once per 100,000 records' batches (a batch that fails "
        "is undone alone; after a crash, replay again: it is idempotent). A saved Lambda event keeps "
        "Lambda's semantics: users are refreshed in "
        "every batch they appear in. On a large input, a second process reads and decodes JSON lines one "
        "batch ahead of the main one, and worker processes compute the final refresh's lists (--workers); "
        "per-record accounting, dead letters and the summary are the same with or without them.",
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
    return replay_command(local_settings(args.state), args.path, args.batch_size, args.refresh, workers)


def local_engagement(settings: Settings) -> EngagementSettings:
    """Engagement settings of the local backend from the environment (no cloud-only setting is read)."""
    return EngagementSettings.local_from_env(settings=settings)


def replay_command(
    settings: Settings, path: Path, batch_size: int | None, refresh: str = "auto", workers: int = 0
) -> int:
    """``refresh``: "end" (backfill), "batch" (Lambda's semantics) or "auto" (end unless a Lambda event).

    ``batch_size`` None: 500 records per batch as Lambda's default, or 10,000 for a backfill. ``workers``:
    processes besides this one (``--workers``; 0: none).
    """
    pipeline, wiring = build_pipeline(settings, engagement=local_engagement(settings))
    refresh_failures: dict[str, int] = {}
    if wiring.local is not None:
        pipeline.batch_scope = wiring.local.tracker.batch
    try:
        with ExitStack() as stack:
            lambda_event = is_lambda_event(path)
            if refresh == "auto":
                refresh = "batch" if lambda_event else "end"
            if batch_size is None:
                batch_size = BACKFILL_BATCH_SIZE if refresh == "end" else REPLAY_BATCH_SIZE
            # A Lambda event goes through the handler as Lambda would call it; JSON lines are decoded
            # straight into the batches its Lambda events would give (no base64 round trip), in a process
            # of their own when there are enough of them.
            events: Iterable[ReplayItem]
            if lambda_event:
                events = events_from(path, batch_size)
            elif workers and path.stat().st_size >= INTAKE_PROCESS_MIN_BYTES:
                events = stack.enter_context(IntakeProcess(path, batch_size, pipeline.event_map))
            else:
                events = decoded_batches(path, batch_size, pipeline.event_map)
            if refresh == "end" and wiring.local is not None:
                per_group = max(1, BACKFILL_COMMIT_RECORDS // batch_size)
                grouped = in_commit_groups(events, wiring.local.store.commit_group, per_group)
                events = stack.enter_context(closing(grouped))
            if refresh == "end":
                helpers = RefreshWorkers(
                    partial(
                        local_recommender, settings.state_dir, pipeline.event_map, REFRESH_WORKER_CACHE_KIB
                    ),
                    workers,
                    REFRESH_WORKERS_MIN_USERS,
                )
                result = backfill(events, pipeline, print_progress(), print_refresh_progress(), helpers)
                counts, refresh_failures = result.counts, result.refresh_failures
            else:
                counts = replay(events, pipeline, progress=print_progress())
    except InputError as exc:
        sys.stderr.write(f"pue replay: {exc}\n")
        return 2
    except RetryableError as exc:
        # e.g. the store gave up a commit group (a full disk): the message says what was lost and what to do
        sys.stderr.write(f"pue replay: {exc}\n")
        return EXIT_FAILED
    finally:
        pipeline.close()
    sys.stderr.write("\n")
    _print_reasons(counts)
    if refresh_failures:
        sys.stderr.write(f"refresh failed: {top_reasons(refresh_failures, 10)}\n")
    summary: dict[str, object] = dict(counts.summary())
    summary.update(refresh=refresh, refresh_failed=sum(refresh_failures.values()))
    sys.stdout.write(json.dumps(summary) + "\n")
    return EXIT_FAILED if counts.failed or refresh_failures else 0


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


def _print_reasons(counts: BatchCounts) -> None:
    for title, reasons in (
        ("filtered", counts.filter_reasons),
        ("dead-lettered", counts.dead_letter_reasons),
        ("failed", counts.failure_reasons),
    ):
        if reasons:
            sys.stderr.write(f"{title}: {top_reasons(reasons, 10)}\n")
    if counts.unmapped_events:  # a bounded sample (schemas.batch.SAMPLE_SIZE), counts are upper bounds
        sys.stderr.write(f"unmapped events (most frequent): {top_reasons(counts.unmapped_events, 10)}\n")
