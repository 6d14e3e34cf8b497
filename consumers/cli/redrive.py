"""The ``pue redrive`` command: options, wiring and output around ``consumers.runners.redrive.Redriver``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from consumers.cli.arguments import problem_line
from consumers.cli.command_settings import add_backend_arguments
from consumers.runners.redrive_stats import DEFAULT_MAX_ATTEMPTS
from schemas.errors import ConfigError, PueError

if TYPE_CHECKING:
    from consumers.runners.redrive_stats import RedriveStats

EXIT_FAILED = 1
EXIT_USAGE = 2
# ReceiveMessage: WaitTimeSeconds 0-20, VisibilityTimeout 0-43,200 (12 hours).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
SQS_MAX_WAIT_SECONDS = 20
SQS_MAX_VISIBILITY_TIMEOUT = 43_200
# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_StreamDescription.html (StreamARN pattern)
STREAM_ARN = re.compile(r"arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}")

DESCRIPTION = """\
Takes messages off a failure queue and runs their records through the pipeline again (the backend and
settings of pue consume). Two kinds of message are understood, whatever the queue:
  - pue's dead letters (PUE_DEAD_LETTER_QUEUE_URL): one record each, plain, gzipped, or stored in S3;
  - Lambda's discarded batches (the template's DiscardedBatchesQueue): the shard and sequence range are read
    back from the Kinesis stream while it still holds them.
A message is deleted only when each of its records ended processed, filtered, or dead-lettered again (a new
letter, its attempt count one higher). A record that fails for retry leaves its message on the queue: it is
visible again after --visibility-timeout (extended while a long discarded batch runs). Messages that cannot
be redriven (not pue's, truncated letters, records past the stream's retention) stay too, counted by reason.
A letter whose attempt count reached --max-attempts is parked: left on the queue as it is, never rewritten
(a later run with a higher --max-attempts takes it again).
Only what the stack wrote is read: a letter in S3 only from --dead-letter-bucket, at the key pue gives that
record, at most 1 MiB and matching its SHA-256; a discarded batch only of --stream-arn. Anything else is
refused: left on the queue, counted under refuse_reasons. Progress goes to stderr on a terminal; the last
line of stdout is a JSON summary. Exit status: 0 done (see "kept", "skipped", "refused" and "parked"), 1 a
service failed, 2 bad arguments or configuration."""


def queue_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.path.count("/") < 2:
        raise argparse.ArgumentTypeError(
            "expected an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/pue-dlq, "
            f"got {text!r}"
        )
    return text


def stream_arn(text: str) -> str:
    if not STREAM_ARN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected a Kinesis stream ARN such as arn:aws:kinesis:us-east-1:123456789012:stream/segment, "
            f"got {text!r}"
        )
    return text


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}")
        return int(text)

    return parse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pue redrive`` to the CLI (``consumers.cli.COMMAND_MODULES``)."""
    command = subparsers.add_parser(
        "redrive",
        help="run dead letters and discarded batches from an SQS queue through the pipeline again",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--queue", required=True, type=queue_url, metavar="URL", help="the SQS queue URL")
    command.add_argument(
        "--dry-run",
        action="store_true",
        help="decode and classify only: nothing is tracked, written or deleted (messages are released)",
    )
    command.add_argument(
        "--limit", type=_bounded(1, 10**9), metavar="N", help="take at most N messages (default: until empty)"
    )
    command.add_argument("--region", metavar="R", help="AWS region (default: boto3's configuration)")
    command.add_argument("--endpoint-url", metavar="URL", help="one endpoint for SQS, S3 and Kinesis (local)")
    command.add_argument(
        "--wait-seconds",
        type=_bounded(0, SQS_MAX_WAIT_SECONDS),
        default=2,
        metavar="S",
        help="long polling per receive, 0-20 (default 2): an empty answer then means an empty queue",
    )
    command.add_argument(
        "--visibility-timeout",
        type=_bounded(1, SQS_MAX_VISIBILITY_TIMEOUT),
        default=300,
        metavar="S",
        help="seconds a taken message stays hidden; a kept one reappears after it (default 300)",
    )
    command.add_argument(
        "--max-attempts",
        type=_bounded(1, 1000),
        default=DEFAULT_MAX_ATTEMPTS,
        metavar="N",
        help=f"park a letter that failed N times for good (default {DEFAULT_MAX_ATTEMPTS}): left as it is",
    )
    command.add_argument(
        "--stream-arn",
        type=stream_arn,
        metavar="ARN",
        help="the stack's Kinesis stream: discarded batches of any other stream are refused (and without "
        "this option, every discarded batch)",
    )
    command.add_argument(
        "--dead-letter-bucket",
        metavar="NAME",
        help="the stack's dead-letter bucket, the only one S3 letters are read from (default "
        "$PUE_DEAD_LETTER_BUCKET; without either, letters in S3 are refused)",
    )
    add_backend_arguments(command)
    command.set_defaults(handler=redrive_command)


def redrive_command(args: argparse.Namespace) -> int:
    from consumers.cli.command_settings import opened_pipeline, settings_for
    from consumers.runners.redrive import Redriver
    from consumers.runners.redrive_stats import RedriveOptions
    from destinations.aws.clients import make_client

    try:
        settings = settings_for(args)
    except ConfigError as exc:
        sys.stderr.write(problem_line("redrive", exc))
        return EXIT_USAGE
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            # Long polling and GetRecords pages take longer than the default read timeout allows.
            clients[service] = make_client(
                service, region=args.region, endpoint_url=args.endpoint_url, read_timeout=30.0
            )
        return clients[service]

    options = RedriveOptions(
        limit=args.limit,
        dry_run=args.dry_run,
        wait_seconds=args.wait_seconds,
        visibility_timeout=args.visibility_timeout,
        max_attempts=args.max_attempts,
        dead_letter_bucket=args.dead_letter_bucket or settings.dead_letter_bucket,
        stream_arn=args.stream_arn,
    )
    try:
        with opened_pipeline(settings) as pipeline:
            progress = terminal_progress(sys.stderr)
            stats = Redriver(client, args.queue, pipeline, options, progress=progress).run()
    except PueError as exc:
        sys.stderr.write(problem_line("redrive", exc, after_progress=True))
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    sys.stdout.write(json.dumps(stats.summary(args.dry_run)) + "\n")
    return 0


def terminal_progress(stream: IO[str]) -> Callable[[RedriveStats], None] | None:
    """One line, rewritten after each receive; nothing when ``stream`` is not a terminal (logs, pipes)."""
    if not stream.isatty():
        return None

    def show(stats: RedriveStats) -> None:
        stream.write(
            f"\r  {stats.messages:>7,} messages  {stats.deleted:>7,} deleted  {stats.kept:>5,} kept  "
            f"{stats.skipped:>5,} skipped  {stats.stream_records:>8,} stream records"
        )
        stream.flush()

    return show
