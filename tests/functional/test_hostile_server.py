"""``pue serve``'s server against clients that misbehave on the wire (issue 14): idle sockets, slowloris
header drips, requests that never finish, malformed request lines, pipelining, chunked bodies.

A smaller version of ``make bench``'s hostile figure (1,000 idle + 200 slowloris): the point here is that
the server answers at all; only a generous bound is asserted, never a latency.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.bootstrap.api import build_api
from consumers.config.api_settings import load_settings
from consumers.web.http_server import LISTEN_BACKLOG, ApiServer
from consumers.web.routes import Api
from tests.benchmarks.hostile_clients import HostileClients, probe
from tests.functional.api_harness import API_KEY, exchange, running_server, seed

DEADLINE_SECONDS = 1.0  # the server's deadline for a whole request, short for the test
ANSWER_BOUND_SECONDS = 10.0  # "answers at all": far above any healthy latency


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    state = tmp_path / "state"
    seed(state)
    monkeypatch.setenv("PUE_BACKEND", "local")
    monkeypatch.setenv("PUE_STATE_DIR", str(state))
    monkeypatch.setenv("PUE_API_KEY", API_KEY)
    settings, api_settings = load_settings(require_key=True)
    api = build_api(settings, api_settings)
    yield api
    api.close()


@pytest.fixture
def server(api: Api) -> Iterator[ApiServer]:
    with running_server(api, deadline_seconds=DEADLINE_SECONDS) as server:
        yield server


def _raw(server: ApiServer, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers until it closes or goes quiet."""
    return exchange(server.host, server.port, data, wait=wait)[0]


def _status_and_json(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_health_and_recommendations_answer_beside_50_idle_and_20_slowloris_connections(
    server: ApiServer,
) -> None:
    # More hostile sockets than worker threads (4) by far: before issue 14, 4 idle sockets were enough.
    with HostileClients(server.host, server.port, idle=50, slowloris=20, drip_seconds=0.5) as hostile:
        assert hostile.counts.idle_open == 50 and hostile.counts.slow_open == 20
        paths = ["/health", "/recommendations?userId=a-1&numResults=3"]
        result = probe(server.host, server.port, paths, API_KEY, 20, timeout=ANSWER_BOUND_SECONDS)
    assert result.requests == 20
    assert result.errors == 0, result.statuses


def test_a_request_head_dripped_past_the_deadline_is_answered_408_json_and_closed(server: ApiServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = b""
        try:
            # One byte every 0.2 s: every recv gets data, only a deadline for the whole head ends this.
            while time.monotonic() - started < 8 * DEADLINE_SECONDS:
                sock.sendall(b"a")
                time.sleep(0.2)
        except OSError:
            pass  # the server closed the connection: what is expected
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    assert time.monotonic() - started < 6 * DEADLINE_SECONDS
    status, document = _status_and_json(answer)
    assert status == 408
    assert document == {
        "error": {"code": "request_timeout", "message": "the request took too long to arrive"}
    }
    assert server.timed_out_requests == 1


def test_a_body_that_stops_arriving_is_cut_off_by_the_deadline(server: ApiServer) -> None:
    head = b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    started = time.monotonic()
    answer = _raw(server, head + b"x-api-key: " + API_KEY.encode() + b"\r\n\r\n{", wait=8 * DEADLINE_SECONDS)
    assert time.monotonic() - started < 6 * DEADLINE_SECONDS
    assert _status_and_json(answer)[0] == 408


def test_a_request_sent_in_pieces_within_the_deadline_is_answered(server: ApiServer) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        for n in range(0, len(request), 7):
            sock.sendall(request[n : n + 7])
            time.sleep(0.02)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert _status_and_json(answer) == (200, {"status": "ok"})


def test_pipelined_requests_are_all_answered_in_order(server: ApiServer) -> None:
    one = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = _raw(server, one * 3 + last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.index(b"HTTP/1.1 404") > answer.rindex(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"NOT A REQUEST\r\n\r\n", 400, "bad_request"),
        (b"GET /health HTTP/9.9\r\n\r\n", 505, "http_version_not_supported"),
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            413,
            "payload_too_large",
        ),
        (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", 413, "payload_too_large"),
    ],
    ids=["request-line", "version", "head-too-large", "body-too-large"],
)
def test_the_servers_own_errors_are_json_like_the_apis(
    server: ApiServer, request_bytes: bytes, status: int, code: str
) -> None:
    answer = _raw(server, request_bytes)
    assert b"content-type: application/json" in answer.lower()
    got_status, document = _status_and_json(answer)
    assert got_status == status
    assert document["error"]["code"] == code  # type: ignore[index]


def test_idle_connections_are_closed_after_the_idle_timeout(api: Api) -> None:
    with running_server(api, idle_seconds=1) as server:
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            started = time.monotonic()
            assert sock.recv(1) == b""  # closed by the server, having said nothing
            assert 0.5 < time.monotonic() - started < 6


def test_the_listen_backlog_holds_1024_connections(server: ApiServer) -> None:
    # ss shows a listening socket's backlog in Send-Q.
    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(listing[2]) == LISTEN_BACKLOG >= 1024


def test_the_open_files_limit_is_raised_for_a_thousand_sockets() -> None:
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "from consumers.web.http_server import raise_open_files_limit, WANTED_OPEN_FILES\n"
        "now = raise_open_files_limit()\n"
        "assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "infinite = hard == resource.RLIM_INFINITY\n"
        "assert now == (WANTED_OPEN_FILES if infinite else min(WANTED_OPEN_FILES, hard))\n"
        "print(now)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout) > 1200


def test_a_client_waiting_for_100_continue_gets_it_and_its_body_is_read(server: ApiServer) -> None:
    body = json.dumps({"userId": "patient", "itemId": "A1", "eventType": "Product Viewed"}).encode()
    head = (
        f"POST /events HTTP/1.1\r\nHost: x\r\nx-api-key: {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")  # sent before any body byte
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, document = _status_and_json(answer)
    assert status == 200 and document["userId"] == "patient"


def test_a_partial_request_behind_a_whole_one_waits_in_the_selector_not_in_a_worker(api: Api) -> None:
    # The full deadline (10 s): a worker held by a partial pipelined request would be held that long.
    with running_server(api) as server:
        sockets = []
        try:
            for _ in range(8):  # twice the 4 worker threads
                sock = socket.create_connection((server.host, server.port), timeout=5)
                whole = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                sock.sendall(whole + b"GET /health HTTP/1.1\r\nHost: x\r\nX-Sl")
                assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")  # the whole one is answered
                sockets.append(sock)
            result = probe(server.host, server.port, ["/health"], API_KEY, 5, timeout=3.0)
            assert result.errors == 0, result
        finally:
            for sock in sockets:
                sock.close()
