"""The HTTP server under ``pue serve``: cheroot (CherryPy's WSGI server) running a ``WsgiApp``.

Production-grade and pure Python (no compiler: it installs wherever pue does), with a thread pool,
keep-alive, request-size limits and a clean stop. Imported only when a server starts.
"""

from __future__ import annotations

import logging
from typing import Final

from cheroot import wsgi

from consumers.api.listen import ListenError
from consumers.api.serve import DEFAULT_THREADS
from consumers.api.wsgi import WsgiApp

MAX_REQUEST_BODY_BYTES: Final = 1024 * 1024  # refused with 413 past this; the API itself takes at most 32 KB
MAX_REQUEST_HEADER_BYTES: Final = 64 * 1024  # refused with 431 past this
CHANNEL_TIMEOUT_SECONDS: Final = 30  # idle keep-alive connections are closed after this
SHUTDOWN_TIMEOUT_SECONDS: Final = 5  # how long a stop waits for requests in flight


class _LoggingServer(wsgi.Server):
    """cheroot writes its notices to stderr, with tracebacks; pue's log takes them (JSON, redacted)."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        logging.getLogger("pue.api.server").log(level, "%s", msg, exc_info=traceback)


class ApiServer:
    """cheroot serving a ``WsgiApp``. ``run()`` blocks until ``stop()`` (any thread), Ctrl-C or SIGTERM.

    Why cheroot and not waitress (the first choice): on the 2-vCPU CI machine a hello-world WSGI app under
    waitress 3 answered about 1,000 req/s with p99 ≈ 12 × p50 (its asyncore loop and the workers take turns
    at the GIL), under cheroot 4,800 req/s with p99 ≈ 2 × p50; pue's own routes followed (docs/api.md#load).
    """

    def __init__(self, app: WsgiApp, *, host: str, port: int = 0, threads: int = DEFAULT_THREADS):
        self._server = _LoggingServer(
            (host, port),
            app,
            numthreads=threads,
            server_name="pue",
            timeout=CHANNEL_TIMEOUT_SECONDS,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
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
