"""Hostile connections against a server on 127.0.0.1, and a well-behaved client timed beside them.

- idle: connect and send nothing, ever (a port scanner, a browser's pre-opened socket, an attacker);
- slowloris: send a request line, then one header byte at a time, a byte every ``drip_seconds`` per socket,
  never finishing the head. A socket the server closes is opened again (counted), as an attacker would;
- promised: send a whole head that promises a body which never comes (issue 23: ``Expect: 100-continue``,
  ``Content-Length: +60000`` or ``60_000``, ``Transfer-Encoding : chunked``, a chunk that never ends),
  one kind after another; a socket the server answers or closes is opened again (counted).

``probe`` then times a well-behaved client: each request on a fresh connection (the case the issue found
broken: the server's workers are all taken, or the listen backlog is full), ``timeout`` seconds at most; a
request that fails or times out counts as an error and as ``timeout`` seconds of latency. Used by
``make bench`` (tests/benchmarks/api_load.py ``--hostile``) and, smaller, by
tests/functional/test_hostile_server.py. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

CONNECT_TIMEOUT_SECONDS: Final = 3.0
_HEAD_START: Final = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
_POST: Final = b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
PROMISES: Final = (
    _POST + b"Content-Length: 60000\r\nExpect: 100-continue\r\n\r\n",
    _POST + b"Content-Length: +60000\r\n\r\n",
    _POST + b"Content-Length: 60_000\r\n\r\n",
    _POST + b"Transfer-Encoding : chunked\r\n\r\n",
    _POST + b"Transfer-Encoding: chunked\r\n\r\nffff\r\n{",
)


@dataclass
class HostileCounts:
    idle_open: int = 0
    slow_open: int = 0
    connect_failures: int = 0  # connect() timed out or was refused: the backlog was full
    slow_reopened: int = 0  # slowloris sockets the server closed (its head deadline) and we opened again
    promised_open: int = 0
    promised_reopened: int = 0  # promised-body sockets the server answered or closed, opened again


@dataclass(frozen=True)
class Probe:
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int] = field(default_factory=dict)


def _connect(host: str, port: int) -> socket.socket | None:
    try:
        return socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS)
    except OSError:
        return None


def _connect_many(host: str, port: int, count: int) -> tuple[list[socket.socket], int]:
    """``count`` connections opened at once (non-blocking), as a burst from an attacker would arrive;
    the ones not established within CONNECT_TIMEOUT_SECONDS (a full backlog drops SYNs) are failures."""
    pending: dict[int, socket.socket] = {}
    poller = select.poll()
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        pending[sock.fileno()] = sock
        poller.register(sock, select.POLLOUT)
    opened: list[socket.socket] = []
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
    while pending and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):
            sock = pending.pop(fd)
            poller.unregister(fd)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                sock.setblocking(True)
                sock.settimeout(CONNECT_TIMEOUT_SECONDS)
                opened.append(sock)
            else:
                sock.close()
    for sock in pending.values():
        sock.close()
    return opened, count - len(opened)


class HostileClients:
    """``idle`` + ``slowloris`` + ``promised`` sockets held open while the ``with`` block runs."""

    def __init__(
        self, host: str, port: int, *, idle: int, slowloris: int, promised: int = 0, drip_seconds: float = 1.0
    ) -> None:
        self.host, self.port = host, port
        self._want_idle, self._want_slow, self._want_promised = idle, slowloris, promised
        self._drip = drip_seconds
        self.counts = HostileCounts()
        self._idle: list[socket.socket] = []
        self._slow: list[socket.socket | None] = []
        self._promised: list[socket.socket | None] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip_loop, name="slowloris", daemon=True)

    def __enter__(self) -> HostileClients:
        self._idle, failed = _connect_many(self.host, self.port, self._want_idle)
        slow, failed_slow = _connect_many(self.host, self.port, self._want_slow)
        self.counts.connect_failures += failed + failed_slow
        for sock in slow:
            try:
                sock.sendall(_HEAD_START)
            except OSError:
                sock.close()
                continue
            self._slow.append(sock)
        self._slow.extend([None] * (self._want_slow - len(self._slow)))
        promised, failed_promised = _connect_many(self.host, self.port, self._want_promised)
        self.counts.connect_failures += failed_promised
        self._promised = [_send_head(sock, PROMISES[n % len(PROMISES)]) for n, sock in enumerate(promised)]
        self._promised.extend([None] * (self._want_promised - len(self._promised)))
        self.counts.idle_open = len(self._idle)
        self.counts.slow_open = sum(s is not None for s in self._slow)
        self.counts.promised_open = sum(s is not None for s in self._promised)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in [*self._idle, *self._slow, *self._promised]:
            if sock is not None:
                sock.close()

    def _open_slow(self) -> socket.socket | None:
        sock = _connect(self.host, self.port)
        if sock is None:
            self.counts.connect_failures += 1
            return None
        try:
            sock.sendall(_HEAD_START)
        except OSError:
            sock.close()
            return None
        return sock

    def _drip_loop(self) -> None:
        # One byte per slowloris socket per round, one look at each promised-body socket; the round is
        # spread over drip_seconds.
        while not self._stop.is_set():
            pause = self._drip / max(1, len(self._slow) + len(self._promised))
            for n, sock in enumerate(self._slow):
                if self._stop.wait(pause):
                    return
                if sock is not None:
                    try:
                        sock.send(b"a")
                        continue
                    except OSError:  # closed by the server: its deadline for the head
                        sock.close()
                self.counts.slow_reopened += 1
                self._slow[n] = self._open_slow()
            for n, sock in enumerate(self._promised):
                if self._stop.wait(pause):
                    return
                if sock is not None and _still_waiting(sock):
                    continue
                if sock is not None:
                    sock.close()
                self.counts.promised_reopened += 1
                opened = _connect(self.host, self.port)
                self._promised[n] = opened and _send_head(opened, PROMISES[n % len(PROMISES)])


def _send_head(sock: socket.socket, head: bytes) -> socket.socket | None:
    try:
        sock.sendall(head)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)  # looked at with MSG_PEEK: in timeout mode Python would wait out EAGAIN
    return sock


def _still_waiting(sock: socket.socket) -> bool:
    """Whether the server has neither answered nor closed ``sock`` (a 100 Continue does not count)."""
    try:
        seen = sock.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if seen.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
        sock.recv(len(b"HTTP/1.1 100 Continue\r\n\r\n"))
        return True
    return False


def probe(
    host: str,
    port: int,
    paths: list[str],
    key: str,
    requests: int,
    *,
    timeout: float = 5.0,
    budget_seconds: float = 60.0,
) -> Probe:
    """``requests`` GETs cycling through ``paths``, one fresh connection each, one after another; stops
    early after ``budget_seconds`` (a server that is down would take requests x timeout)."""
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    stop_at = time.monotonic() + budget_seconds
    for n in range(requests):
        if time.monotonic() > stop_at:
            break
        started = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", paths[n % len(paths)], headers={"x-api-key": key})
            response = conn.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            errors += response.status != 200
            latencies.append((time.perf_counter() - started) * 1000)
        except OSError:
            errors += 1
            latencies.append(timeout * 1000)
        finally:
            conn.close()
    latencies.sort()
    return Probe(
        requests=len(latencies),
        errors=errors,
        p50_ms=latencies[len(latencies) // 2],
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max_ms=latencies[-1],
        statuses=statuses,
    )
