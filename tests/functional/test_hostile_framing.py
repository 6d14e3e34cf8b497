"""``pue serve`` against heads that promise a body which never comes, and against request-smuggling
framing (issue 23, items 1 and 2; RFC 9112 §3.2, §5.1, §6.1, §6.3, §7.1; RFC 9110 §10.1.1).

Before issue 23 each "promised body" head below was handed to a worker thread, which waited for the
body until the deadline: as many such connections as worker threads took the server offline. Now the
selector reads the body (or refuses the head) before any worker sees the request. The smuggling
primitives were accepted (Content-Length with Transfer-Encoding, two lengths, a space before the colon),
a malformed chunk size answered 500 with a traceback that echoed the line; now each is a 400 that
closes the connection.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Iterator

import pytest

from consumers.web.http_server import ApiServer
from consumers.web.routes import Api
from tests.benchmarks.hostile_clients import probe
from tests.functional.api_harness import API_KEY, exchange, running_server
from tests.functional.test_hostile_server import api  # noqa: F401  (the fixture)

WORKERS = 4  # running_server's threads
HELD = 2 * WORKERS  # more hostile connections than workers: each one held would take a worker
PROBE_TIMEOUT_SECONDS = 4.0  # well under the server's 10 s deadline: a held worker shows as a timeout
EVENT = json.dumps({"userId": "framed", "itemId": "A1", "eventType": "Product Viewed"}).encode()


@pytest.fixture
def server(api: Api) -> Iterator[ApiServer]:  # noqa: F811
    # The full 10 s deadline: a worker held until the deadline would be held past the probe's timeout.
    with running_server(api) as server:
        yield server


def _head(*lines: str, method: str = "POST", version: str = "HTTP/1.1") -> bytes:
    return (f"{method} /events {version}\r\n" + "".join(line + "\r\n" for line in lines) + "\r\n").encode()


def _key() -> str:
    return f"x-api-key: {API_KEY}"


def _answer(server: ApiServer, data: bytes) -> tuple[bytes, bool]:
    """What the server answers on a fresh connection, and whether it closed the connection."""
    return exchange(server.host, server.port, data, wait=3.0)


def _statuses(answer: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


PROMISED_BODIES = {
    "expect-100-continue": _head("Host: x", _key(), "Content-Length: 60000", "Expect: 100-continue"),
    "content-length-plus": _head("Host: x", _key(), "Content-Length: +60000"),
    "content-length-underscore": _head("Host: x", _key(), "Content-Length: 60_000"),
    "space-before-colon": _head("Host: x", _key(), "Transfer-Encoding : chunked"),
    "chunk-never-ends": _head("Host: x", _key(), "Transfer-Encoding: chunked") + b"ffff\r\nab",
    "chunked-no-last-chunk": _head("Host: x", _key(), "Transfer-Encoding: chunked") + b"2\r\nab\r\n",
}


@pytest.mark.parametrize("head", PROMISED_BODIES.values(), ids=PROMISED_BODIES.keys())
def test_heads_promising_a_body_that_never_comes_hold_no_worker(server: ApiServer, head: bytes) -> None:
    sockets = []
    try:
        for _ in range(HELD):
            sock = socket.create_connection((server.host, server.port), timeout=5)
            sock.sendall(head)
            sockets.append(sock)
        time.sleep(0.3)  # let the server take them all
        result = probe(server.host, server.port, ["/health"], API_KEY, 4, timeout=PROBE_TIMEOUT_SECONDS)
        assert result.errors == 0, result
    finally:
        for sock in sockets:
            sock.close()


def test_100_continue_is_sent_by_the_reader_and_the_body_read_before_a_worker(server: ApiServer) -> None:
    head = _head(
        "Host: x",
        _key(),
        "Content-Type: application/json",
        f"Content-Length: {len(EVENT)}",
        "Expect: 100-continue",
        "Connection: close",
    )
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # exactly one, before any body byte
        sock.sendall(EVENT)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert b"100 Continue" not in answer  # the worker does not send a second one
    assert _statuses(answer) == [200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["userId"] == "framed"


def test_a_chunked_body_is_read_whole_and_answered(server: ApiServer) -> None:
    chunked = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (EVENT[:10], EVENT[10:]))
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )
    head = _head("Host: x", _key(), "Content-Type: application/json", "Transfer-Encoding: chunked")
    answer, _ = _answer(
        server, head + chunked + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert _statuses(answer) == [200, 200]  # the event, then the pipelined /health; the trailer is no request


SMUGGLING = {
    "content-length-and-chunked": _head("Host: x", _key(), "Content-Length: 5", "Transfer-Encoding: chunked")
    + b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    "two-content-lengths": _head("Host: x", _key(), "Content-Length: 5", "Content-Length: 45")
    + b"hello"
    + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    "content-length-list": _head("Host: x", _key(), "Content-Length: 5, 5") + b"hello",
    "content-length-plus": _head("Host: x", _key(), "Content-Length: +5") + b"hello",
    "content-length-underscore": _head("Host: x", _key(), "Content-Length: 0_5") + b"hello",
    "space-before-colon": _head("Host: x", _key(), "Content-Length : 5") + b"hello",
    "tab-before-colon": _head("Host: x", _key(), "Transfer-Encoding\t: chunked") + b"0\r\n\r\n",
    "obs-fold": _head("Host: x", _key(), "Transfer-Encoding:", " chunked") + b"0\r\n\r\n",
    "chunked-not-last": _head("Host: x", _key(), "Transfer-Encoding: chunked, identity") + b"0\r\n\r\n",
    "chunked-twice": _head("Host: x", _key(), "Transfer-Encoding: chunked", "Transfer-Encoding: chunked")
    + b"0\r\n\r\n",
    "chunked-on-http-1.0": _head("Host: x", _key(), "Transfer-Encoding: chunked", version="HTTP/1.0")
    + b"0\r\n\r\n",
    "malformed-chunk-size": _head("Host: x", _key(), "Transfer-Encoding: chunked")
    + b"zz"
    + b"Q" * 2000
    + b"\r\nab\r\n0\r\n\r\n",
    "chunk-size-0x": _head("Host: x", _key(), "Transfer-Encoding: chunked") + b"0x2\r\nab\r\n0\r\n\r\n",
    "chunk-data-overrun": _head("Host: x", _key(), "Transfer-Encoding: chunked") + b"2\r\nabc\r\n0\r\n\r\n",
    "no-host": _head(_key(), method="GET"),
    "two-hosts": _head("Host: x", "Host: y", _key(), method="GET"),
}


@pytest.mark.parametrize("request_bytes", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_framing_is_a_400_that_closes_the_connection(
    server: ApiServer, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        answer, closed = _answer(server, request_bytes)
    assert _statuses(answer) == [400], answer[:300]  # one answer: nothing after it taken as a request
    assert closed
    assert b"content-type: application/json" in answer.lower()
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["code"] == "bad_request"
    assert "Traceback" not in caplog.text and "QQQQ" not in caplog.text  # nothing echoed, bounded


def test_an_unknown_transfer_coding_is_501_and_closes(server: ApiServer) -> None:
    answer, closed = _answer(
        server, _head("Host: x", _key(), "Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n"
    )
    assert _statuses(answer) == [501] and closed


def test_a_body_over_the_limit_is_refused_before_it_is_sent(server: ApiServer) -> None:
    answer, closed = _answer(
        server, _head("Host: x", _key(), "Content-Length: 70000", "Expect: 100-continue")
    )
    assert _statuses(answer) == [413] and closed  # no 100 Continue for a body that will be refused


def test_http_1_0_without_host_is_still_answered(server: ApiServer) -> None:
    answer, _ = _answer(server, b"GET /health HTTP/1.0\r\n\r\n")
    assert _statuses(answer) == [200]
