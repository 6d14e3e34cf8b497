"""A loopback HTTP server for tests, benchmarks and fault injection: records requests, answers as scripted.

    with HttpReceiver() as receiver:
        receiver.script("/v1/batch", Reply(500), Reply(200, {"success": True}))  # then the last repeats
        receiver.route("/v1/spaces/*", lambda request: Reply(404))               # or compute the answer
        sink = PersonasTraitSink("key", host=receiver.url)
        ...
        assert receiver.requests_to("/v1/batch")[0].json()["batch"][0]["type"] == "identify"

Binds 127.0.0.1 on an ephemeral port; one thread per connection (``ThreadingHTTPServer``), HTTP/1.1
keep-alive, so concurrent clients and pooled connections behave as they do against the real service.
Paths match exactly, or by prefix when the pattern ends with ``*``; an unmatched request gets ``default``.
"""

from __future__ import annotations

import gzip
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived. ``body`` is raw (still gzipped if the client gzipped it)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        data = self.body
        if self.headers.get("content-encoding", "").lower() == "gzip":
            data = gzip.decompress(data)
        return data.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.text())

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Reply:
    """A scripted answer. ``body``: bytes or str as is, anything else as JSON. ``delay`` in seconds before
    answering; ``disconnect`` closes the connection without answering (a reset, as the client sees it)."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            payload = self.body
        elif isinstance(self.body, str):
            payload = self.body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(self.body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        return payload, headers


Responder = Callable[[RecordedRequest], Reply]


class _Script:
    """Replies used in order, the last one repeating; thread-safe."""

    def __init__(self, replies: tuple[Reply | Responder, ...]) -> None:
        self._replies = deque(replies)
        self._lock = threading.Lock()

    def next(self) -> Reply | Responder:
        with self._lock:
            return self._replies.popleft() if len(self._replies) > 1 else self._replies[0]


class HttpReceiver:
    """Loopback HTTP server (a context manager). Thread-safe: scripts may change while clients run."""

    def __init__(self, default: Reply | Responder | None = None, *, poll_interval: float = 0.02) -> None:
        # serve_forever checks for shutdown this often: stop() waits up to this long.
        self._poll_interval = poll_interval
        self._default: Reply | Responder = default if default is not None else Reply(200, {"success": True})
        self._routes: dict[str, _Script] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------------------
    def script(self, path: str, *replies: Reply | Responder) -> None:
        """Answer requests to ``path`` with ``replies`` in order; the last one repeats."""
        if not replies:
            raise ValueError("script needs at least one reply")
        with self._lock:
            self._routes[path] = _Script(replies)

    def route(self, path: str, responder: Responder) -> None:
        """Compute every answer for ``path`` with ``responder`` (called on the server's threads)."""
        self.script(path, responder)

    # -- observing -----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if _matches(path, request.path)]

    def clear(self) -> None:
        """Forget recorded requests (scripts stay)."""
        with self._lock:
            self._requests.clear()

    # -- lifecycle -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(_Handler):
            owner = receiver

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(self._poll_interval,), name="http-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        # Idle keep-alive connections would otherwise hold their handler threads until the client goes.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _shutdown(connection)
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- used by the handler ---------------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            script = self._lookup(request.path)
        answer = script.next() if script is not None else self._default
        return answer if isinstance(answer, Reply) else answer(request)

    def _lookup(self, path: str) -> _Script | None:
        if path in self._routes:
            return self._routes[path]
        prefixes = [pattern for pattern in self._routes if pattern.endswith("*") and _matches(pattern, path)]
        return self._routes[max(prefixes, key=len)] if prefixes else None

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


def _matches(pattern: str, path: str) -> bool:
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


def _shutdown(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the client: nothing left to release


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of concurrent connects would overflow it and the
    # kernel would drop SYNs, stalling clients a full second for the retransmit (benchmarks open many).
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests, fault injection) leaves a broken pipe behind: expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: HttpReceiver
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm meets the client's
        # delayed ACK and every keep-alive response stalls ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.owner._track(self.connection, open_=True)

    def finish(self) -> None:
        self.owner._track(self.connection, open_=False)
        super().finish()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        reply = self.owner._record(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.disconnect:
            self.close_connection = True
            _shutdown(self.connection)
            return
        payload, headers = reply.encoded()
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        """Quiet: tests assert on recorded requests, not on stderr."""
