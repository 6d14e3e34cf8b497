"""The ``pue`` command line: replay history, ask for recommendations, inspect a user, run the demo."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from consumers.settings import DEFAULT_STATE_DIR, Settings
from schemas.errors import ConfigError
from schemas.limits import GET_RECOMMENDATIONS_MAX_RESULTS

EXIT_USAGE = 2
EXIT_FAILED = 1

# Subcommands that live in their own modules. Each module has
# ``register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None`` and sets
# ``handler=<callable(argparse.Namespace) -> int>`` on its parser with ``set_defaults``.
COMMAND_MODULES: tuple[str, ...] = (
    "consumers.api.serve",
    "consumers.export.command",
    "consumers.validate.command",
    "consumers.catalog_command",
    "consumers.campaign_hook_command",
    "consumers.segment_import_command",
    "consumers.consume_command",
)


def _state_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("PUE_STATE_DIR") or DEFAULT_STATE_DIR)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _num_results(text: str) -> int:
    value = _positive(text)
    if value > GET_RECOMMENDATIONS_MAX_RESULTS:
        raise argparse.ArgumentTypeError(f"must be at most {GET_RECOMMENDATIONS_MAX_RESULTS}, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pue",
        description="Segment events on Kinesis -> Amazon Personalize -> Personas traits and Pinpoint "
        "attributes. Runs on an embedded local backend (SQLite under --state) when no cloud is configured.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log one JSON line per batch to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    state_help = "state directory of the local backend (default: $PUE_STATE_DIR, else ./.pue)"

    replay = sub.add_parser(
        "replay",
        help="run Segment history or a saved Lambda event through the Kinesis handler (local backend)",
        description="PATH is JSON lines of Segment messages (plain or .gz, as in a Segment S3 archive) or a "
        'Lambda Kinesis event document ({"Records": [...]}). The last line of stdout is a JSON summary: '
        "records, processed, filtered, dead_lettered, failed, interactions, users_refreshed, refresh "
        "(which refresh mode ran) and refresh_failed. A Segment archive replays as a backfill by default: "
        "every batch is tracked, and each distinct user is refreshed once at the end (recommendations "
        "computed, sinks written). A saved Lambda event keeps Lambda's semantics: users are refreshed in "
        "every batch they appear in.",
    )
    replay.add_argument("path", type=Path, metavar="PATH")
    replay.add_argument("--state", metavar="DIR", help=state_help)
    replay.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        metavar="N",
        help="Kinesis records per Lambda batch (default 500; 5,000 for a backfill: "
        "one store transaction per batch)",
    )
    replay.add_argument(
        "--refresh",
        choices=("auto", "end", "batch"),
        default="auto",
        help="end: refresh each user once after the last batch (backfill); batch: refresh the users of "
        "every batch, as Lambda does; auto (default): end for JSON lines, batch for a Lambda event",
    )

    recommend = sub.add_parser("recommend", help="print fresh recommendations for a user as JSON")
    recommend.add_argument("user_id", metavar="USER_ID")
    recommend.add_argument("--state", metavar="DIR", help=state_help)
    recommend.add_argument(
        "-n",
        type=_num_results,
        default=None,
        metavar="N",
        help="number of items, 1-500 (default $PERSONALIZE_NUM_RESULTS, else 25)",
    )

    profile = sub.add_parser("profile", help="print what the local backend holds for a user as JSON")
    profile.add_argument("user_id", metavar="USER_ID")
    profile.add_argument("--state", metavar="DIR", help=state_help)

    sample = sub.add_parser(
        "sample",
        help="write the deterministic sample clickstream as Segment JSON lines (for replay, export)",
    )
    sample.add_argument("--users", type=_positive, default=300, help="sample users (default 300)")
    sample.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="file to write (gzip when it ends in .gz); default stdout",
    )

    from consumers.api.serve import DEFAULT_HOST, DEFAULT_PORT, port_number

    run = sub.add_parser(
        "run",
        help="the demo: a sample clickstream through the handler, then the HTTP API on the result",
        description="Generates the sample clickstream, pushes it through the Kinesis Lambda handler onto the "
        "local backend under --state and prints a summary; then serves the recommendations HTTP API on that "
        "data (as pue serve does) and prints a working curl line with a demo API key (generated, unless "
        "PUE_API_KEY is set) and the web page's address. Ctrl-C or SIGTERM stops the server (exit 0). "
        "--no-serve stops after the summary, for scripts.",
    )
    run.add_argument("--state", metavar="DIR", help=state_help)
    run.add_argument("--users", type=_positive, default=300, help="sample users (default 300)")
    run.add_argument("--host", default=DEFAULT_HOST, help=f"address to serve on (default {DEFAULT_HOST})")
    run.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port to serve on (default {DEFAULT_PORT}; 0: any free port)",
    )
    run.add_argument(
        "--no-serve", action="store_true", help="stop after the summary: do not serve the HTTP API"
    )

    import importlib

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return p


def _local_settings(state: str | None) -> Settings:
    """Environment settings, pinned to the local backend with every cloud sink off."""
    settings = Settings.from_env()
    return dataclasses.replace(
        settings,
        backend="local",
        state_dir=_state_dir(state),
        segment_write_key=None,
        segment_space_id=None,
        segment_profile_token=None,
        pinpoint_application_id=None,
    )


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from consumers.logs import configure_logging

    configure_logging("INFO" if args.verbose else "WARNING")
    try:
        return _dispatch(args)
    except ConfigError as exc:
        sys.stderr.write(f"pue: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("pue: interrupted\n")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from consumers import commands

    handler = getattr(args, "handler", None)
    if handler is not None:
        code: int = handler(args)
        return code

    settings = _local_settings(getattr(args, "state", None))
    if args.command == "replay":
        return commands.replay_command(settings, args.path, args.batch_size, args.refresh)
    if args.command == "recommend":
        _print_json(commands.recommend(settings, args.user_id, args.n or settings.num_results))
        return 0
    if args.command == "profile":
        _print_json(commands.profile(settings, args.user_id))
        return 0
    if args.command == "sample":
        return commands.write_sample(args.users, args.out)
    if args.command == "run":
        listen = None if args.no_serve else commands.Listen(args.host, args.port)
        return commands.demo(settings, users=args.users, serve=listen)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    raise SystemExit(main())
