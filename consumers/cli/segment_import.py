"""``pue segment-import PATH [--dry-run]``: the segment import Lambda's work, on a local output file.

With the local backend (the default) endpoints come from the local store and segments are written under the
state dir; with ``PUE_BACKEND=aws`` they come from Pinpoint and are imported there. ``--dry-run`` resolves
endpoints the same way but only writes one CSV per query to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

EXIT_INCOMPLETE = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "segment-import",
        help="turn a Personalize batch segment job's output into one static segment per query",
        description="PATH is the job's output (JSON lines, one query per line). Every line becomes a segment "
        "of all the endpoints of its users. stdout: a JSON report; exit 1 when a segment or line was left "
        "out (the report says why), 2 when the file or the settings cannot be used.",
    )
    parser.add_argument("path", type=Path, metavar="PATH")
    parser.add_argument("--dry-run", action="store_true", help="only write the import CSVs (to --out)")
    parser.add_argument(
        "--out", type=Path, default=Path("segments"), metavar="DIR", help="CSV directory for --dry-run"
    )
    parser.add_argument("--state", metavar="DIR", help="local backend state dir (default $PUE_STATE_DIR)")
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="follow the import jobs this long (default $PUE_SEGMENT_IMPORT_WAIT_SECONDS, else 0)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from consumers.bootstrap.clients import client_factory
    from consumers.bootstrap.engagement import segment_adapters
    from consumers.config.engagement_settings import EngagementSettings
    from consumers.config.settings import Settings
    from consumers.engagement.segment_import import SegmentImport
    from consumers.engagement.segment_queries import OutputError

    settings = Settings.from_env()
    if args.state:
        settings = dataclasses.replace(settings, state_dir=Path(args.state))
    engagement = EngagementSettings.from_env(settings=settings)
    if not args.path.is_file():
        sys.stderr.write(f"pue segment-import: {args.path} is not a readable file\n")
        return EXIT_USAGE
    directory, importer, close = segment_adapters(
        settings,
        engagement,
        client_factory({}, settings),
        dry_run_dir=args.out if args.dry_run else None,
    )
    wait = engagement.segment_import_wait_seconds if args.wait is None else max(0.0, args.wait)
    runner = SegmentImport(directory, importer, max_workers=settings.max_workers, wait_seconds=wait)
    try:
        with args.path.open("rb") as handle:
            report = runner.run(handle, source=str(args.path))
    except OutputError as error:
        sys.stderr.write(f"pue segment-import: {error}\n")
        return EXIT_USAGE
    finally:
        close()
    for problem in report.problems:
        sys.stderr.write(f"line {problem.line}: {problem.reason}\n")
    for segment in report.segments:
        sys.stderr.write(f"line {segment.line} [{segment.status}] {segment.name}: {segment.message}\n")
    sys.stdout.write(json.dumps(report.summary(), ensure_ascii=False) + "\n")
    return 0 if report.ok else EXIT_INCOMPLETE
