"""``pue serve``: the recommendations API over HTTP on the local backend, for development and small sites.

The server is cheroot (consumers/web/http_server.py), tuned against idle and slow clients, measured
with ``make bench-api`` (tests/benchmarks/api_load.py; figures in docs/api.md).

``serve_forever`` is also what the demo calls after ``pue run``. Ctrl-C (or SIGTERM) stops it cleanly:
connections close, worker threads finish their request, the store is closed.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
import secrets
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Final
from urllib.parse import quote, urlencode

from consumers.cli.arguments import local_settings
from consumers.config.printable import printable
from consumers.config.settings import Settings
from consumers.web.listen import DEFAULT_THREADS, ListenError

if TYPE_CHECKING:
    from consumers.config.api_settings import ApiSettings
    from consumers.web.http_server import ApiServer

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
_API_KEY_BYTES: Final = 24  # token_urlsafe(24): 32 characters, 192 bits
EXIT_CANNOT_LISTEN: Final = 2  # as for a bad argument: the fix is another --port


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve the recommendations HTTP API on the local backend",
        description="GET /recommendations, POST /events, GET /health, GET /openapi.json over HTTP, on the "
        "local backend under --state. Every route but /health needs the x-api-key header: a key from "
        "PUE_API_KEY (comma-separated), else one generated for this session and printed. Ctrl-C stops.",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)"
    )
    serve.add_argument(
        "--state", metavar="DIR", help="state directory (default: $PUE_STATE_DIR, else ./.pue)"
    )
    serve.add_argument(
        "--threads",
        type=_threads,
        default=DEFAULT_THREADS,
        help=f"worker threads (default {DEFAULT_THREADS})",
    )
    serve.add_argument(
        "--items",
        type=Path,
        metavar="CSV",
        help="load an item catalog first (Personalize items CSV with ITEM_ID), for includeMetadata=true",
    )
    serve.add_argument("-q", "--quiet", action="store_true", help="no log line per request")
    serve.set_defaults(handler=_serve_command)


def port_number(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def _threads(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"expected 1-256 threads, got {text!r}")
    return int(text)


def _serve_command(args: argparse.Namespace) -> int:
    settings = local_settings(args.state)
    if args.items is not None:
        from destinations.local import LocalStore
        from destinations.local.catalog import load_items_csv

        with LocalStore.in_state_dir(settings.state_dir) as store:
            count = load_items_csv(store, args.items)
        sys.stdout.write(f"pue serve: loaded {count} items from {args.items}\n")
    try:
        serve_forever(
            settings, host=args.host, port=args.port, threads=args.threads, access_log=not args.quiet
        )
    except ListenError as exc:
        sys.stderr.write(f"pue serve: {exc}\n")
        return EXIT_CANNOT_LISTEN
    return 0


def generate_api_key() -> str:
    return secrets.token_urlsafe(_API_KEY_BYTES)


def serve_forever(
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    api_settings: ApiSettings | None = None,
    threads: int = DEFAULT_THREADS,
    access_log: bool = True,
    out: IO[str] | None = None,
    prog: str = "pue serve",
) -> None:
    """Serve the API on ``settings``' backend until Ctrl-C or SIGTERM; print the URL, a working curl line
    and the web page's address first. Raises ``ListenError`` if it cannot listen on ``host:port``.

    Keys: ``api_key`` if given, else ``PUE_API_KEY``, else one generated now and printed (never logged).
    """
    from consumers.bootstrap.api import build_api
    from consumers.config.api_settings import ApiSettings
    from consumers.config.engagement_settings import EngagementSettings
    from consumers.config.logs import register_secret
    from consumers.web.wsgi import WsgiApp

    out = out or sys.stdout
    api_settings = api_settings or ApiSettings.from_env(require_key=False)
    shown_key = "$PUE_API_KEY"
    if api_key is not None or not api_settings.api_keys:
        shown_key = api_key or generate_api_key()
        register_secret(shown_key)
        api_settings = dataclasses.replace(api_settings, api_keys=(shown_key,))
    if access_log:
        logging.getLogger("pue.api").setLevel(logging.INFO)
    # On the local backend (pue serve, pue run) the cloud-only engagement settings are not read.
    local = settings.backend == "local"
    api = build_api(
        settings,
        api_settings,
        engagement=EngagementSettings.local_from_env(settings=settings) if local else None,
    )
    try:
        from consumers.web.http_server import ApiServer

        server = ApiServer(WsgiApp(api), host=host, port=port, threads=threads)
        try:
            with _signals_stop(server):
                warn_if_not_loopback(prog, server.host)
                print_banner(out, prog, server.url, shown_key, most_active_user(settings))
                server.run()
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C before the handlers are in place (or off the main thread): the same clean stop.
            server.stop_now()
    finally:
        api.close()
    out.write(f"{prog}: stopped\n")
    out.flush()


def warn_if_not_loopback(prog: str, host: str, err: IO[str] | None = None) -> bool:
    """Say so on stderr when the server is reachable from other machines (issue 23): plain HTTP, the key
    the only guard. Returns whether it warned."""
    try:
        loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        (err or sys.stderr).write(
            f"{prog}: warning: listening on {printable(host)}, beyond this machine's loopback: anyone who "
            "can reach it can try keys, and requests and keys travel as plain HTTP (no TLS). Use --host "
            "127.0.0.1, or put a TLS proxy in front.\n"
        )
    return not loopback


def most_active_user(settings: Settings) -> str:
    from destinations.local import LocalStore

    with LocalStore.in_state_dir(settings.state_dir) as store:
        users = store.known_users(limit=1)
    return users[0] if users else "USER_ID"


def curl_line(url: str, key: str, user_id: str) -> str:
    """A ``curl`` command line for a POSIX shell. The user id came from the stream (the most active user):
    percent-encoded into the query and the whole URL quoted with ``shlex.quote``, so no id can run
    anything when the operator pastes the line (issue 23). ``$PUE_API_KEY`` is left for the shell to
    expand, in double quotes; any other key is quoted like the URL."""
    query = urlencode({"userId": user_id, "numResults": 5}, quote_via=quote)
    header = '"x-api-key: $PUE_API_KEY"' if key == "$PUE_API_KEY" else shlex.quote(f"x-api-key: {key}")
    return f"curl -H {header} {shlex.quote(f'{url}/recommendations?{query}')}"


def print_banner(out: IO[str], prog: str, url: str, key: str, user_id: str) -> None:
    out.write(f"{prog}: listening on {url} (Ctrl-C stops)\n")
    if not key.startswith("$"):
        out.write(f"  API key for this session: {key}\n")
    out.write(f"  try: {curl_line(url, key, user_id)}\n")
    out.write(f"  the contract: {url}/openapi.json (same header)\n")
    out.write(f"  web page: {url}/\n")
    out.flush()


@contextmanager
def _signals_stop(server: ApiServer) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop ``server`` cleanly. The handler only starts the stop on another thread:
    raising out of a signal handler could land inside the server's own locking. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, name="pue-stop", daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
