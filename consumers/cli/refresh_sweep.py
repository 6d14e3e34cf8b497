"""The ``pue refresh-due`` command: deliver the refreshes the refresh interval postponed, once.

``pue consume`` already does this as it runs; this is for the other local runs (``pue replay``) and for an
operator on AWS (the same sweep as the scheduled Lambda, e.g. while that function is disabled).
"""

from __future__ import annotations

import argparse
import json
import sys

from consumers.cli.command_settings import add_backend_arguments
from schemas.errors import ConfigError, PueError

EXIT_FAILED = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``pue refresh-due`` to the CLI (``consumers.cli.COMMAND_MODULES``)."""
    command = subparsers.add_parser(
        "refresh-due",
        help="refresh the users the refresh interval postponed whose interval has ended",
        description="With PUE_REFRESH_MIN_INTERVAL_SECONDS=T, a user with events less than T seconds after "
        "its last refresh is tracked at once and owed one refresh when T ends. This refreshes every user "
        "owed one that is due now (pue consume does it as it runs; on AWS a scheduled Lambda does). "
        "The last line of stdout is a JSON summary: due, refreshed, rejected, failed.",
    )
    add_backend_arguments(command)
    command.set_defaults(handler=refresh_due_command)


def refresh_due_command(args: argparse.Namespace) -> int:
    """0: done (failures are in the summary, still owed), 1: the ledger failed, 2: configuration."""
    from consumers.cli.command_settings import opened_pipeline, settings_for
    from consumers.stream.refresh_sweep import sweep_until_done

    try:
        settings = settings_for(args)
    except ConfigError as exc:
        sys.stderr.write(f"pue refresh-due: {exc}\n")
        return EXIT_USAGE
    if not settings.refresh_min_interval_seconds:
        sys.stderr.write(
            "pue refresh-due: PUE_REFRESH_MIN_INTERVAL_SECONDS is 0 (off): no refresh is ever postponed\n"
        )
        return EXIT_USAGE
    try:
        with opened_pipeline(settings) as pipeline:
            total = sweep_until_done(pipeline)
    except PueError as exc:
        sys.stderr.write(f"pue refresh-due: {exc}\n")
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED
    sys.stdout.write(json.dumps({**total.summary(), "failure_reasons": total.failure_reasons}) + "\n")
    return 0
