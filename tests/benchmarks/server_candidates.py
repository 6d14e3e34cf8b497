"""The pue API under other HTTP servers, for the server-choice table in docs/api.md (benchmark only).

    .venv/bin/python -m tests.benchmarks.server_candidates NAME --state DIR [--port 0]

prints ``listening on http://127.0.0.1:PORT`` like ``pue serve`` and serves until SIGTERM, so
tests/benchmarks/api_load.py (``--server NAME``) measures every candidate with the same harness. NAME:

- ``cheroot-stock``: cheroot 11 as pue ran it before issue 14 (8 threads, backlog 5, no head deadline);
- ``waitress``: waitress 3, poll() loop (select() stops at 1,024 sockets), connection limit 2,000;
- ``uvicorn``: uvicorn (httptools) + a2wsgi's WSGI bridge, 8 threads;
- ``granian``: granian's Rust server, WSGI interface, 1 worker, 8 blocking threads, 10 s header deadline.

``pue serve`` itself (the chosen server) is run by api_load.py directly. The key is PUE_API_KEY.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from consumers.web.wsgi import WsgiApp

HOST = "127.0.0.1"
THREADS = 8


def build_app(state: str) -> WsgiApp:
    """The app as ``pue serve`` builds it, with its logging: JSON lines to stderr, one per request (the
    access log costs CPU per request; every candidate pays it as pue serve does)."""
    from consumers.bootstrap.api import build_api
    from consumers.cli.arguments import local_settings
    from consumers.config.api_settings import ApiSettings
    from consumers.config.logs import configure_logging

    configure_logging("WARNING")
    logging.getLogger("pue.api").setLevel(logging.INFO)

    return WsgiApp(build_api(local_settings(state), ApiSettings.from_env(require_key=True)))


def granian_app() -> WsgiApp:
    """granian imports its target in its worker process: the state comes from PUE_STATE_DIR."""
    return build_app(os.environ["PUE_STATE_DIR"])


def _optional(module: str) -> Any:
    """The candidates are not pue's dependencies: ``pip install -e '.[server-candidates]'``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SystemExit(
            f"{module} is not installed: .venv/bin/pip install -e '.[server-candidates]'"
        ) from None


def _announce(port: int) -> None:
    print(f"candidate: listening on http://{HOST}:{port}", flush=True)


def _cheroot_stock(app: WsgiApp, port: int) -> None:
    from cheroot import wsgi

    server = wsgi.Server((HOST, port), app, numthreads=THREADS, timeout=30)
    server.prepare()
    _announce(server.bind_addr[1])
    # stop() waits for serve() to return: from another thread, not from the handler that interrupts it.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.stop).start())
    server.serve()


def _waitress(app: WsgiApp, port: int) -> None:
    waitress = _optional("waitress")
    server: Any = waitress.create_server(
        app,
        host=HOST,
        port=port,
        threads=THREADS,
        connection_limit=2000,
        asyncore_use_poll=True,
        backlog=1024,
        channel_timeout=30,
    )
    _announce(server.effective_port)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    try:
        server.run()
    except OSError:
        pass  # closed by SIGTERM


def _uvicorn(app: WsgiApp, port: int) -> None:
    uvicorn = _optional("uvicorn")
    middleware = _optional("a2wsgi").WSGIMiddleware

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    _announce(sock.getsockname()[1])
    config = uvicorn.Config(
        middleware(app, workers=THREADS),
        http="httptools",
        loop="asyncio",
        log_level="warning",
        access_log=False,
        backlog=1024,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _granian(port: int) -> None:
    granian = _optional("granian")
    interfaces = _optional("granian.constants").Interfaces
    http1_settings = _optional("granian.http").HTTP1Settings
    _announce(port)
    granian.Granian(
        "tests.benchmarks.server_candidates:granian_app",
        address=HOST,
        port=port,
        interface=interfaces.WSGI,
        workers=1,
        blocking_threads=THREADS,
        backlog=1024,
        backpressure=4096,  # its default (backlog / workers = 1,024) stops accepting past 1,024 connections
        http1_settings=http1_settings(header_read_timeout=10_000),
        factory=True,
        log_enabled=False,
    ).serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.server_candidates")
    parser.add_argument("name", choices=("cheroot-stock", "waitress", "uvicorn", "granian"))
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.name == "granian":
        os.environ["PUE_STATE_DIR"] = str(args.state)
        port = args.port
        if port == 0:
            with socket.socket() as probe:
                probe.bind((HOST, 0))
                port = probe.getsockname()[1]
        _granian(port)
        return 0
    app = build_app(str(args.state))
    {"cheroot-stock": _cheroot_stock, "waitress": _waitress, "uvicorn": _uvicorn}[args.name](app, args.port)
    sys.stdout.write("candidate: stopped\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
