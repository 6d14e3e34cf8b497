"""``pue run``: the demo. The sample clickstream through the Kinesis handler onto the local backend, a
summary, then the HTTP API and the web page on that data (as ``pue serve``) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from consumers.bootstrap.stream import build_pipeline
from consumers.cli.arguments import (
    EXIT_FAILED,
    EXIT_USAGE,
    STATE_HELP,
    Subparsers,
    local_settings,
    positive,
    top_reasons,
)
from consumers.cli.local_commands import local_engagement
from consumers.cli.serve import DEFAULT_HOST, DEFAULT_PORT, port_number
from consumers.config.printable import printable
from consumers.config.settings import DEFAULT_STATE_DIR, Settings
from consumers.runners.lambda_events import lambda_events
from consumers.runners.replay import print_progress, replay
from destinations.local import LocalBackend
from schemas.batch import BatchCounts
from schemas.traits import RECOMMENDED_PRODUCTS


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="the demo: a sample clickstream through the handler, then the HTTP API on the result",
        description="Generates the sample clickstream, pushes it through the Kinesis Lambda handler onto the "
        "local backend under --state and prints a summary; then serves the recommendations HTTP API on that "
        "data (as pue serve does) and prints a working curl line with a demo API key (generated, unless "
        "PUE_API_KEY is set) and the web page's address. Ctrl-C or SIGTERM stops the server (exit 0). "
        "--no-serve stops after the summary, for scripts.",
    )
    run.add_argument("--state", metavar="DIR", help=STATE_HELP)
    run.add_argument("--users", type=positive, default=300, help="sample users (default 300)")
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
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    listen = None if args.no_serve else Listen(args.host, args.port)
    return demo(local_settings(args.state), users=args.users, serve=listen)


@dataclasses.dataclass(frozen=True, slots=True)
class Listen:
    """Where the demo serves the HTTP API once its data is in."""

    host: str
    port: int


def demo(settings: Settings, *, users: int, serve: Listen | None = None) -> int:
    """Generate the sample clickstream, deliver it as Lambda would, and show what came out; then, with
    ``serve``, serve the HTTP API on that data until Ctrl-C or SIGTERM (exit 0)."""
    from consumers.runners.sample_data import clickstream
    from consumers.web.listen import ListenError, check_can_listen

    if serve is not None:
        try:
            check_can_listen(serve.host, serve.port)  # before the demo: a busy port should not cost its run
        except ListenError as exc:
            sys.stderr.write(f"pue run: {exc}, or --no-serve\n")
            return EXIT_USAGE
    code = _run_demo(settings, clickstream(users=users), users)
    if serve is None or code != 0:
        return code
    from consumers.cli.serve import serve_forever

    sys.stdout.write("\n")
    try:
        serve_forever(settings, host=serve.host, port=serve.port, prog="pue run")
    except ListenError as exc:  # taken while the demo ran
        sys.stderr.write(f"pue run: {exc}, or --no-serve\n")
        return EXIT_USAGE
    return 0


def _run_demo(settings: Settings, messages: list[dict[str, Any]], users: int) -> int:
    from consumers.runners.sample_data import catalog_items

    payloads = [json.dumps(m).encode() for m in messages]
    out = sys.stderr
    out.write(
        f"pue demo: {len(messages)} Segment messages from {users} sample users -> {settings.state_dir}\n"
    )
    pipeline, wiring = build_pipeline(settings, engagement=local_engagement(settings))
    assert wiring.local is not None  # noqa: S101 - the demo always runs on the local backend
    # The item catalog (names, categories, prices) for messages, the web page and includeMetadata=true.
    wiring.local.store.upsert_items(catalog_items())
    started = time.perf_counter()
    try:
        # Every 7th Kinesis record is a KPL aggregate of 5 messages, as a KPL producer would write.
        events = lambda_events(payloads, batch_size=100, aggregate_every=7, aggregate_size=5)
        counts = replay(events, pipeline, progress=print_progress(out))
    finally:
        pipeline.close()
    seconds = time.perf_counter() - started
    out.write("\n")
    _print_summary(counts, seconds)
    _print_users(wiring.local, settings.state_dir)
    return EXIT_FAILED if counts.failed else 0


def _print_summary(counts: BatchCounts, seconds: float) -> None:
    w = sys.stdout.write
    w("\nSummary\n")
    w(f"  records in          {counts.records:>7}   ({counts.records / max(seconds, 1e-9):,.0f} records/s)\n")
    w(f"  interactions        {counts.interactions:>7}\n")
    w(f"  users refreshed     {counts.users_refreshed:>7}\n")
    w(f"  processed           {counts.processed:>7}\n")
    w(f"  filtered            {counts.filtered:>7}   {top_reasons(counts.filter_reasons)}\n")
    w(f"  dead-lettered       {counts.dead_lettered:>7}   {top_reasons(counts.dead_letter_reasons)}\n")
    w(f"  failed (retry)      {counts.failed:>7}\n")


def read_hint(state_dir: Path, user_id: str) -> str:
    """The recommend and profile commands that read what a run wrote, as one would type them: with --state
    unless the run used the default folder (an environment's PUE_STATE_DIR may be gone by then)."""
    state = "" if state_dir == Path(DEFAULT_STATE_DIR) else f" --state {shlex.quote(str(state_dir))}"
    user = shlex.quote(user_id)
    return f"pue recommend {user}{state}   |   pue profile {user}{state}"


def _print_users(local: LocalBackend, state_dir: Path, how_many: int = 3) -> None:
    w = sys.stdout.write
    shown_users: list[str] = []
    w("\nFresh recommended_products (Personas traits written by the local sink)\n")
    for user_id in local.store.known_users(limit=how_many):
        shown_users.append(user_id)
        traits = local.store.traits_for(user_id)
        items = traits.get(RECOMMENDED_PRODUCTS, [])
        if not isinstance(items, list):
            w(printable(f"  {user_id}: {items}") + "\n")
            continue
        # With a catalog loaded (the demo loads the sample's), names say more than ids.
        first = [str(i) for i in items[:4]]
        names = local.store.items(first)
        shown = ", ".join(f"{i} {names[i]['NAME']}" if "NAME" in names.get(i, {}) else i for i in first)
        # Ids and names may come from a stream replayed into this --state: escaped for the terminal.
        w(printable(f"  {user_id}: {shown}{f' ... ({len(items)} in all)' if len(items) > 4 else ''}") + "\n")
    w("\nTry: " + printable(read_hint(state_dir, next(iter(shown_users), "USER_ID"))) + "\n")
