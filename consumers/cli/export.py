"""``pue export``: Segment history (a Segment S3 archive, warehouse JSON lines) -> Personalize datasets."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from consumers.cli.arguments import problem_line
from consumers.onboarding.export.exporter import DEFAULT_ITEM_FIELDS, ExportOptions, export
from consumers.onboarding.export.progress import Progress
from consumers.onboarding.export.reader import InputError, discover
from consumers.onboarding.export.summary import ExportSummary
from consumers.onboarding.spark.storage import is_s3
from consumers.stream.event_map import EventMap

EXIT_INPUT = 2

_DESCRIPTION = """\
Turn Segment history into Amazon Personalize datasets, with the same event map and normalization as the
Kinesis handler (so training data and real-time events agree).

PATH: files or directories of Segment messages as JSON lines, plain or gzip: e.g. a copy of a Segment S3
archive (aws s3 sync s3://BUCKET/segment-logs/SOURCE_ID ./archive). Directories are walked recursively
for *.gz, *.json, *.jsonl and *.ndjson files.

Writes into --out: interactions.csv (USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP in epoch seconds, EVENT_VALUE
with --event-value, then metadata columns), items.csv (--item-fields), users.csv (--user-fields), a
Personalize schema for each (interactions.schema.json...), and dead_letters.jsonl for lines that could
not be read. Events are deduplicated by eventId (the Segment messageId).
"""

_EPILOG = """\
Anonymous events: with identity linking (the default), an event with only an anonymousId is attributed to
the userId that any call carrying both ids (identify, later events) or an alias names, even when the
identify comes later in the history. Without a link the event is dropped: Personalize interactions need
a USER_ID. The stream itself does not link: it sends such events with the anonymousId as session.

Memory stays flat whatever the input size: what must be remembered (event ids, links, waiting anonymous
events, users, items) lives in a temporary SQLite file under --scratch-dir.

With --engine spark (pip install 'pue[spark]'; AWS Glue and EMR bring pyspark), the same code runs on
Spark executors and writes the same rows, as folders of part files with a header each:
OUT/interactions/part-00000.csv..., OUT/users/, OUT/items/, OUT/dead_letters/, the schemas, and
OUT/summary.json last. PATH and --out may be s3://BUCKET/PREFIX; OUT is overwritten. A corrupt gzip, a
bad line or a file gone between listing and reading is dead-lettered with its reason, as here.

Next: pue validate OUT/interactions.csv, then CreateSchema / CreateDataset / CreateDatasetImportJob
(see docs/onboarding.md).
"""


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "export",
        help="turn Segment history (JSON lines, a Segment S3 archive) into Personalize datasets + schemas",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="JSON-lines files or directories (with --engine spark, also s3://BUCKET/PREFIX)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output directory, created (with --engine spark, also s3://BUCKET/PREFIX; overwritten)",
    )
    p.add_argument(
        "--engine",
        choices=("single", "spark"),
        default="single",
        help="single: this process (default); spark: Apache Spark (pyspark: local mode here, or the "
        "cluster spark-submit / AWS Glue runs it on), same datasets, written as part files per dataset",
    )
    p.add_argument(
        "--spark-master",
        metavar="URL",
        help="with --engine spark: the Spark master (e.g. local[2]); default: spark-submit's, else local[*]",
    )
    p.add_argument(
        "--event-map",
        metavar="FILE",
        help="event map JSON or a preset's name (ecommerce-domain, video-on-demand-domain), as the stream "
        "uses (default: $PUE_EVENT_MAP, else the packaged default)",
    )
    p.add_argument(
        "--no-identity-linking",
        dest="link_identities",
        action="store_false",
        help="drop anonymous events instead of attributing them to the user an identify names",
    )
    p.add_argument(
        "--event-value",
        action="store_true",
        help="add an EVENT_VALUE column (from the event map's event_value paths, e.g. a rating)",
    )
    p.add_argument(
        "--metadata",
        type=_names,
        default=(),
        metavar="NAMES",
        help="comma-separated Segment property names to add as interaction metadata columns (e.g. "
        "discount_code -> DISCOUNT_CODE), on top of the event map's property_whitelist; add them to the "
        "whitelist too so the stream sends them. Personalize allows at most 5.",
    )
    p.add_argument(
        "--user-fields",
        type=_names,
        default=(),
        metavar="NAMES",
        help="comma-separated identify trait names (dotted paths allowed, e.g. plan,address.country) for "
        "users.csv; default: none, so no users.csv (traits often hold personal data; pick what to share)",
    )
    p.add_argument(
        "--item-fields",
        type=_names,
        default=DEFAULT_ITEM_FIELDS,
        metavar="NAMES",
        help="comma-separated product property names for items.csv (default: "
        f"{','.join(DEFAULT_ITEM_FIELDS)}; '' for no items.csv). Lists become 'a|b' categories.",
    )
    p.add_argument("--scratch-dir", type=Path, metavar="DIR", help="where the temporary SQLite file goes")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(handler=run)


def _event_map(path: str | None) -> EventMap:
    # Read here, at run time, never at import: the same variable the stream's settings read.
    configured = path or os.environ.get("PUE_EVENT_MAP") or None  # a file, or a preset's name
    return EventMap.named(configured) if configured else EventMap.default()


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the datasets were written, 2 when an input cannot be read (ConfigError: see cli)."""
    options = ExportOptions(
        event_map=_event_map(args.event_map),
        link_identities=args.link_identities,
        event_value=args.event_value,
        metadata=args.metadata,
        user_fields=args.user_fields,
        item_fields=args.item_fields,
        scratch_dir=args.scratch_dir,
    )
    try:
        summary = _spark(args, options) if args.engine == "spark" else _single(args, options)
    except InputError as exc:
        # A progress bar may be mid-line.
        sys.stderr.write(problem_line("export", exc, after_progress=sys.stderr.isatty()))
        return EXIT_INPUT
    if args.json:
        _print_json(summary.to_json())
    else:
        sys.stdout.write(summary.render())
    return 0


def _print_json(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def _single(args: argparse.Namespace, options: ExportOptions) -> ExportSummary:
    remote = [location for location in (*args.paths, args.out) if is_s3(location)]
    if remote:
        raise InputError(
            f"{remote[0]}: S3 locations need --engine spark (or copy the archive first: aws s3 sync)"
        )
    paths = [Path(path) for path in args.paths]
    progress = Progress(discover(paths).total_bytes)
    summary = export(paths, Path(args.out), options, progress=progress.update)
    progress.done(summary.messages)
    return summary


def _spark(args: argparse.Namespace, options: ExportOptions) -> ExportSummary:
    from consumers.bootstrap.spark_export import export_storage, spark_session
    from consumers.onboarding.spark.job import spark_export

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    spark, owned = spark_session(args.spark_master)
    try:
        return spark_export(spark, list(args.paths), args.out, options, export_storage(), say=say)
    finally:
        if owned:
            spark.stop()
