"""The HTTP server under ``pue serve``: cheroot (CherryPy's WSGI server) running a ``WsgiApp``.

Production-grade and pure Python (no compiler: it installs wherever pue does), with a thread pool,
keep-alive, request-size limits and a clean stop. Imported only when a server starts.

Tuned against hostile clients (issue 14; measured in docs/api.md#hostile-clients): a worker thread takes a
connection only once its whole request has arrived (``connection_manager``), every request has a deadline
for its head and body, the listen backlog holds 1,024 connections, and the open-files limit is raised
for as many sockets. cheroot's own answers (a malformed request line, a head too large) are JSON like
the API's (``server_errors``).
"""

from __future__ import annotations

import logging
import resource
from traceback import format_exc
from typing import Any, Final

from cheroot import wsgi

from consumers.web.connection_manager import WaitingConnectionManager
from consumers.web.framing import MAX_REQUEST_HEADER_BYTES, PREFETCH_BODY_BYTES
from consumers.web.listen import DEFAULT_THREADS, ListenError
from consumers.web.request_reader import REQUEST_DEADLINE_SECONDS
from consumers.web.server_errors import JsonErrorConnection
from consumers.web.wsgi import WsgiApp

MAX_REQUEST_BODY_BYTES: Final = PREFETCH_BODY_BYTES  # refused with 413 past this; the API takes at most 32 KB
CHANNEL_TIMEOUT_SECONDS: Final = 30  # connections with no request under way are closed after this
SHUTDOWN_TIMEOUT_SECONDS: Final = 5  # how long a stop waits for requests in flight
# Linux's default somaxconn is 4096; cheroot's default backlog (5) overflowed under a burst of 100.
LISTEN_BACKLOG: Final = 1024
# Idle connections cost a descriptor and no thread; keep-alive is refused past this many open ones.
MAX_KEEP_ALIVE_CONNECTIONS: Final = 4096
# Descriptors wanted for that many sockets plus the store, logs and libraries.
WANTED_OPEN_FILES: Final = MAX_KEEP_ALIVE_CONNECTIONS + 256
MAX_LOGGED_ERROR_CHARS: Final = 2000  # of one cheroot notice, and of its traceback


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (never above the hard limit, never
    down): many systems start processes at 1,024, below 1,000 idle sockets. Returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            logging.getLogger("pue.api.server").warning("cannot raise the open-files limit above %d", soft)
    return soft


class _LoggingServer(wsgi.Server):
    """cheroot writes its notices to stderr, with tracebacks; pue's log takes them (JSON, redacted)."""

    ConnectionClass = JsonErrorConnection
    keep_alive_conn_limit = MAX_KEEP_ALIVE_CONNECTIONS

    def __init__(self, *args: Any, deadline_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline_seconds = deadline_seconds

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        # cheroot's messages quote what the client sent (a bad chunk line, a header): bounded, so a
        # request of 60 KB cannot write 120 KB of log (issue 23); a traceback keeps its last lines.
        text = msg[:MAX_LOGGED_ERROR_CHARS]
        if traceback:
            text += "\n" + format_exc()[-MAX_LOGGED_ERROR_CHARS:]
        logging.getLogger("pue.api.server").log(level, "%s", text)

    def prepare(self) -> None:
        super().prepare()
        # cheroot builds its own manager in prepare(); this one waits for whole requests (module doc).
        self._connections = WaitingConnectionManager(self, self.deadline_seconds)

    @property
    def connections(self) -> WaitingConnectionManager:
        manager: WaitingConnectionManager = self._connections
        return manager


class ApiServer:
    """cheroot serving a ``WsgiApp``. ``run()`` blocks until ``stop()`` (any thread), Ctrl-C or SIGTERM.

    Why cheroot and not waitress (the first choice): on the 2-vCPU CI machine a hello-world WSGI app under
    waitress 3 answered about 1,000 req/s with p99 ≈ 12 × p50 (its asyncore loop and the workers take turns
    at the GIL), under cheroot 4,800 req/s with p99 ≈ 2 × p50; pue's own routes followed (docs/api.md#load).
    Against hostile clients (issue 14) tuned cheroot, waitress, granian and uvicorn were measured with one
    harness (docs/api.md#hostile-clients): tuned cheroot meets the goal and stays in-process.
    """

    def __init__(
        self,
        app: WsgiApp,
        *,
        host: str,
        port: int = 0,
        threads: int = DEFAULT_THREADS,
        deadline_seconds: float = REQUEST_DEADLINE_SECONDS,
        idle_seconds: float = CHANNEL_TIMEOUT_SECONDS,
    ):
        """``deadline_seconds``: for a request's head and body, from its first byte; ``idle_seconds``: a
        connection with no request under way is closed after this."""
        self.open_files_limit = raise_open_files_limit()
        self._server = _LoggingServer(
            (host, port),
            app,
            numthreads=threads,
            server_name="pue",
            timeout=idle_seconds,
            request_queue_size=LISTEN_BACKLOG,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
            deadline_seconds=deadline_seconds,
        )
        self._server.max_request_body_size = MAX_REQUEST_BODY_BYTES
        self._server.max_request_header_size = MAX_REQUEST_HEADER_BYTES
        try:
            self._server.prepare()  # binds, listens and starts the worker threads
        except OSError as exc:  # the bind: port taken, address not local...
            # cheroot re-raises without the errno; the bind's own error is the context.
            cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc
            raise ListenError(host, port, cause) from None
        bound = self._server.bind_addr
        self.host = str(bound[0])
        self.port = int(bound[1])

    @property
    def timed_out_requests(self) -> int:
        """Requests answered 408 because they missed their deadline."""
        return self._server.connections.timed_out

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        try:
            self._server.serve()  # returns after stop(); Ctrl-C / SIGTERM propagate from here
        finally:
            self.stop_now()

    def stop_now(self) -> None:
        """Close the listener and every connection, end the worker threads. Idempotent."""
        self._server.stop()

    def stop(self) -> None:
        """Make ``run()`` return; safe from any thread."""
        self._server.stop()
