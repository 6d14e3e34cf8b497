"""``pue serve``: the recommendations API over HTTP on the local backend, for development and small sites.

The server is waitress: a production WSGI server in pure Python (no compiler, runs wherever pue runs),
with a thread pool, keep-alive, request-size limits and clean shutdown. Measured against the issue's
goal with ``make bench-api`` (tests/benchmarks/api_load.py; figures in docs/api.md).

``serve_forever`` is also what the demo calls after ``pue run``. Ctrl-C (or SIGTERM) stops it cleanly:
connections close, worker threads finish their request, the store is closed.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Final, cast

from consumers.api.listen import ListenError
from consumers.settings import DEFAULT_STATE_DIR, Settings

if TYPE_CHECKING:
    from consumers.api.settings import ApiSettings
    from consumers.api.wsgi import WsgiApp

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
# Requests are short and mostly hold the GIL or the store's lock: more threads only add switching.
DEFAULT_THREADS: Final = 8
MAX_REQUEST_BODY_BYTES: Final = 1024 * 1024  # waitress buffers bodies; the API itself takes at most 32 KB
CHANNEL_TIMEOUT_SECONDS: Final = 30  # idle keep-alive connections are closed after this
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


def local_settings(state: str | None) -> Settings:
    """Environment settings pinned to the local backend, every cloud sink off (as the other commands)."""
    settings = Settings.from_env()
    return dataclasses.replace(
        settings,
        backend="local",
        state_dir=Path(state or os.environ.get("PUE_STATE_DIR") or DEFAULT_STATE_DIR),
        segment_write_key=None,
        segment_space_id=None,
        segment_profile_token=None,
        pinpoint_application_id=None,
    )


def generate_api_key() -> str:
    return secrets.token_urlsafe(_API_KEY_BYTES)


class ApiServer:
    """waitress serving a ``WsgiApp``. ``run()`` blocks until ``stop()`` (any thread), Ctrl-C or SIGTERM."""

    def __init__(
        self, app: WsgiApp, *, host: str = DEFAULT_HOST, port: int = 0, threads: int = DEFAULT_THREADS
    ):
        from waitress.server import create_server

        self._map: dict[int, Any] = {}
        try:
            # cast: the stubs return a union and lack effective_host/port, which a single listener has.
            self._server: Any = cast(
                Any,
                create_server(
                    app,
                    map=self._map,
                    host=host,
                    port=port,
                    threads=threads,
                    ident="pue",
                    max_request_body_size=MAX_REQUEST_BODY_BYTES,
                    channel_timeout=CHANNEL_TIMEOUT_SECONDS,
                    asyncore_use_poll=True,  # select() fails past 1024 descriptors
                    clear_untrusted_proxy_headers=True,
                ),
            )
        except OSError as exc:  # the bind: port taken, address not local...
            raise ListenError(host, port, exc) from None
        self.host = str(self._server.effective_host)
        self.port = int(self._server.effective_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        try:
            self._server.run()  # returns on Ctrl-C/SIGTERM (waitress catches them) or after stop()
        finally:
            self.stop_now()

    def stop_now(self) -> None:
        """Close every socket and end the worker threads; from the thread that runs (or would run) the
        loop, when it is not looping. Idempotent."""
        self._close_sockets()
        self._server.task_dispatcher.shutdown()

    def stop(self) -> None:
        """Ask the loop to close every socket and return; safe from any thread."""
        self._server.trigger.pull_trigger(self._close_sockets)

    def _close_sockets(self) -> None:
        from waitress import wasyncore

        wasyncore.close_all(self._map)


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
    from consumers.api.settings import ApiSettings
    from consumers.api.wiring import build_api
    from consumers.api.wsgi import WsgiApp
    from consumers.logs import register_secret

    out = out or sys.stdout
    api_settings = api_settings or ApiSettings.from_env(require_key=False)
    shown_key = "$PUE_API_KEY"
    if api_key is not None or not api_settings.api_keys:
        shown_key = api_key or generate_api_key()
        register_secret(shown_key)
        api_settings = dataclasses.replace(api_settings, api_keys=(shown_key,))
    if access_log:
        logging.getLogger("pue.api").setLevel(logging.INFO)
    api = build_api(settings, api_settings)
    try:
        server = ApiServer(WsgiApp(api), host=host, port=port, threads=threads)
        try:
            with _sigterm_stops():
                _print_banner(out, prog, server.url, shown_key, _sample_user(settings))
                server.run()
        except KeyboardInterrupt:
            # Ctrl-C outside waitress's loop (while the banner prints): the same clean stop.
            server.stop_now()
    finally:
        api.close()
    out.write(f"{prog}: stopped\n")
    out.flush()


def _sample_user(settings: Settings) -> str:
    from destinations.local import LocalStore

    with LocalStore.in_state_dir(settings.state_dir) as store:
        users = store.known_users(limit=1)
    return users[0] if users else "USER_ID"


def _print_banner(out: IO[str], prog: str, url: str, key: str, user_id: str) -> None:
    out.write(f"{prog}: listening on {url} (Ctrl-C stops)\n")
    if not key.startswith("$"):
        out.write(f"  API key for this session: {key}\n")
    # Double quotes: with PUE_API_KEY set, the line shows $PUE_API_KEY and the shell expands it.
    out.write(f"  try: curl -H \"x-api-key: {key}\" '{url}/recommendations?userId={user_id}&numResults=5'\n")
    out.write(f"  the contract: {url}/openapi.json (same header)\n")
    out.write(f"  web page: {url}/\n")
    out.flush()


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM stops the server like Ctrl-C (waitress catches SystemExit in its loop). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
