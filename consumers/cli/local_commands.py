"""``pue replay`` and ``pue sample``: the commands that feed the local backend from a file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from consumers.bootstrap.stream import build_pipeline
from consumers.cli.arguments import EXIT_FAILED, STATE_HELP, Subparsers, local_settings, positive, top_reasons
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.runners.replay import (
    InputError,
    events_from,
    print_progress,
    replay,
)
from schemas.batch import BatchCounts
from schemas.recommendation import Recommendation


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    replay = subparsers.add_parser(
        "replay",
        help="run Segment history or a saved Lambda event through the Kinesis handler (local backend)",
        description="PATH is JSON lines of Segment messages (plain or .gz, as in a Segment S3 archive) or a "
        'Lambda Kinesis event document ({"Records": [...]}). The last line of stdout is a JSON summary: '
        "records, processed, filtered, dead_lettered, failed, interactions, users_refreshed.",
    )
    replay.add_argument("path", type=Path, metavar="PATH")
    replay.add_argument("--state", metavar="DIR", help=STATE_HELP)
    replay.add_argument(
        "--batch-size",
        type=positive,
        default=500,
        metavar="N",
        help="Kinesis records per Lambda batch (default 500)",
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
    return replay_command(local_settings(args.state), args.path, args.batch_size)


def local_engagement(settings: Settings) -> EngagementSettings:
    """Engagement settings of the local backend from the environment (no cloud-only setting is read)."""
    return EngagementSettings.local_from_env(settings=settings)


def replay_command(settings: Settings, path: Path, batch_size: int) -> int:
    pipeline, wiring = build_pipeline(settings, engagement=local_engagement(settings))
    try:
        counts = replay(events_from(path, batch_size), pipeline, progress=print_progress())
    except InputError as exc:
        sys.stderr.write(f"pue replay: {exc}\n")
        return 2
    finally:
        pipeline.close()
    sys.stderr.write("\n")
    _print_reasons(counts)
    sys.stdout.write(json.dumps(counts.summary()) + "\n")
    return EXIT_FAILED if counts.failed else 0


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
