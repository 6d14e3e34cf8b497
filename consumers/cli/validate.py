"""``pue validate``: check a Personalize dataset CSV before an import job does, and say how to fix it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from consumers.cli.arguments import positive, problem_line
from consumers.onboarding.export.avro import DATASET_KINDS
from consumers.onboarding.validate.checker import UsageError, validate_file
from consumers.onboarding.validate.report import DEFAULT_MAX_SHOWN

EXIT_REJECTED = 1
EXIT_USAGE = 2

_DESCRIPTION = """\
Check a dataset CSV against its Personalize schema: required columns in the schema's order, value types,
ids of at most 256 characters, TIMESTAMP in epoch seconds (milliseconds are detected), empty and
duplicate rows, categorical values that need '|' separators, and Personalize's training minimums
(1,000 interactions; 25 users with 2+ interactions each).

Prints line-numbered errors and warnings (the first --max-errors of each, then counts) and a summary table
(rows, users, items, event types, time range). Exit status: 0 when Personalize would accept the dataset
(warnings allowed), 1 when it would reject it, 2 when the file cannot be checked at all.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check a Personalize dataset CSV (interactions, items, users) before importing it",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, metavar="PATH", help="the dataset CSV")
    p.add_argument(
        "--kind",
        choices=DATASET_KINDS,
        help="dataset type (default: from the schema's name, else the file name, else the header)",
    )
    p.add_argument(
        "--schema",
        type=Path,
        metavar="FILE",
        help="Personalize schema JSON (default: NAME.schema.json next to NAME.csv, as pue export writes it; "
        "else built-in rules for the dataset type)",
    )
    p.add_argument(
        "--max-errors",
        type=positive,
        default=DEFAULT_MAX_SHOWN,
        metavar="N",
        help=f"show the first N errors and N warnings, count the rest (default {DEFAULT_MAX_SHOWN})",
    )
    p.add_argument("--scratch-dir", type=Path, metavar="DIR", help="where the temporary SQLite file goes")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = validate_file(
            args.path,
            kind=args.kind,
            schema_path=args.schema,
            max_shown=args.max_errors,
            scratch_dir=args.scratch_dir,
        )
    except UsageError as exc:
        sys.stderr.write(problem_line("validate", exc))
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(report.render())
    return EXIT_REJECTED if report.rejected else 0
