"""The ``pue consume`` command: options, signals and wiring around
``consumers.runners.poller.KinesisPoller``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from consumers.runners.checkpoints import CheckpointStore
from consumers.runners.poller import ConsumeOptions, KinesisPoller, print_progress
from schemas.errors import ConfigError, PueError
from schemas.limits import KINESIS_GET_RECORDS_MAX_RECORDS, KINESIS_SEQUENCE_NUMBER_MAX_DIGITS


def install_stop_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set ``stop`` (the batch in flight finishes); a second one interrupts at once.

    Returns the function that puts the previous handlers back. Signals are only for the main thread.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        sys.stderr.write("\npue consume: stopping after the batch in flight (again to interrupt)\n")
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _batch_size(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= KINESIS_GET_RECORDS_MAX_RECORDS:
        raise argparse.ArgumentTypeError(f"must be 1..{KINESIS_GET_RECORDS_MAX_RECORDS}, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def shard_sequence(text: str) -> tuple[str, str]:
    """``SHARD:SEQUENCE`` (as a discarded batch names them), e.g. ``shardId-000000000001:4960...``."""
    shard, _, sequence = text.rpartition(":")
    if not shard or not sequence.isdigit() or len(sequence) > KINESIS_SEQUENCE_NUMBER_MAX_DIGITS:
        raise argparse.ArgumentTypeError(
            f"expected SHARD:SEQUENCE (a shard id, a colon, a decimal sequence number), e.g. "
            f"shardId-000000000001:49601189658422359378836298521827638475320189012309704722, got {text!r}"
        )
    return shard, sequence


def timestamp(text: str) -> datetime:
    """An ISO 8601 time with its zone, e.g. ``2026-12-01T08:00:00Z``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time such as 2026-12-01T08:00:00Z, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone (Z or +01:00...) of {text!r}")
    return value


def add_consume_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pue consume``."""
    parser.add_argument("--stream", required=True, metavar="NAME", help="Kinesis stream name")
    parser.add_argument("--endpoint-url", metavar="URL", help="Kinesis API endpoint (e.g. a local one)")
    parser.add_argument("--region", metavar="R", help="AWS region (default: boto3's configuration)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--at-timestamp",
        type=timestamp,
        metavar="TIME",
        help="start every shard at this ISO 8601 time (e.g. 2026-12-01T08:00:00Z), whatever its checkpoint",
    )
    parser.add_argument(
        "--at-sequence",
        type=shard_sequence,
        action="append",
        default=[],
        metavar="SHARD:SEQUENCE",
        help="start SHARD at SEQUENCE (included), whatever its checkpoint; repeatable. A discarded "
        "batch's shardId and startSequenceNumber (pue redrive replays such batches by itself)",
    )
    start.add_argument(
        "--from",
        dest="start",
        choices=("TRIM_HORIZON", "LATEST"),
        default="TRIM_HORIZON",
        help="where a shard without a checkpoint starts (default TRIM_HORIZON: the oldest record)",
    )
    parser.add_argument(
        "--state", metavar="DIR", help="state directory: checkpoints, and the local backend's store"
    )
    parser.add_argument("--backend", choices=("local", "aws"), help="default: $PUE_BACKEND, else local")
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=500,
        metavar="N",
        help="records per batch, 1-10000 (default 500)",
    )
    parser.add_argument(
        "--max-records", type=_count, metavar="N", help="stop after the batch that reaches N records"
    )
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="stop once every shard is read to its tip (backfills, tests)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pue consume`` to the CLI (``consumers.cli.COMMAND_MODULES``)."""
    consume = subparsers.add_parser(
        "consume",
        help="read every shard of a Kinesis stream into the handler, checkpointed (Ctrl-C stops cleanly)",
    )
    add_consume_arguments(consume)
    consume.set_defaults(handler=consume_command)


def consume_command(args: argparse.Namespace) -> int:
    """Run ``pue consume`` with parsed ``args``; the exit status: 0 stopped cleanly, 1 failed, 2 config."""
    from consumers.bootstrap.stream import build_pipeline
    from consumers.cli.arguments import problem_line
    from consumers.cli.command_settings import settings_for
    from consumers.stream.lambda_batch import handle_event
    from consumers.stream.refresh_sweep import periodic_sweeper
    from destinations.aws.clients import make_client

    try:
        settings = settings_for(args)
        checkpoints = CheckpointStore.in_state_dir(settings.state_dir, args.stream)
    except ConfigError as exc:
        sys.stderr.write(problem_line("consume", exc))
        return 2
    # GetRecords returns up to 10 MB: allow it more time than the default client's read timeout.
    client = make_client("kinesis", region=args.region, endpoint_url=args.endpoint_url, read_timeout=30.0)
    options = ConsumeOptions(
        start=args.start,
        batch_size=args.batch_size,
        max_records=args.max_records,
        until_caught_up=args.until_caught_up,
        at_sequence=dict(args.at_sequence),
        at_timestamp=args.at_timestamp,
    )
    pipeline, wiring = build_pipeline(settings)
    stop = threading.Event()
    poller = KinesisPoller(
        client,
        args.stream,
        lambda event: handle_event(event, pipeline),
        checkpoints,
        options,
        stop=stop,
        progress=print_progress(sys.stderr),
        tick=periodic_sweeper(pipeline),
    )
    restore = install_stop_signals(stop)
    sys.stderr.write(
        f"pue consume: {args.stream} -> {settings.backend} backend, checkpoints in {checkpoints.path}\n"
    )
    try:
        stats = poller.run()
    except ConfigError as exc:  # e.g. no AWS credentials or region
        sys.stderr.write(problem_line("consume", exc, after_progress=True))
        return 2
    except PueError as exc:
        sys.stderr.write(problem_line("consume", exc, after_progress=True))
        return 1
    finally:
        restore()
        pipeline.close()
        if wiring.local is not None:
            wiring.local.close()
    summary = {"kinesis_records": stats.records, "batches": stats.batches, "retries": stats.retries}
    sys.stdout.write(json.dumps({**summary, **stats.counts.summary()}) + "\n")
    return 0
