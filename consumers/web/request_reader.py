"""A request read off the wire before a worker thread sees it: the deadline socket, the completeness test.

cheroot hands a connection to one of its few worker threads, which then blocks in ``recv`` until the
request has arrived. Eight idle sockets, or eight that drip a header byte every few seconds, held every
worker (issue 14). Here the server's selector thread reads what a readable connection has, without
blocking, into ``DeadlineSocket.pending``; a worker gets the connection only once ``request_ready`` says
the head (and a body of known length, up to ``PREFETCH_BODY_BYTES``) is all there. The worker then reads
it from memory. The whole request, head and body, must arrive within ``REQUEST_DEADLINE_SECONDS`` of its
first byte, whether it waits in the selector or is read by a worker (a body past the prefetch size, a
client waiting for ``100 Continue``): a deadline for the whole request, not per ``recv``.
"""

from __future__ import annotations

import socket
import time
from typing import Final

from schemas.limits import SEGMENT_MESSAGE_MAX_BYTES

# The longest a client may take to send one request, head and body, from its first byte. A browser or an
# SDK sends a request of a few KB in milliseconds; 10 s leaves room for a phone on a bad network.
REQUEST_DEADLINE_SECONDS: Final = 10.0
MAX_REQUEST_HEADER_BYTES: Final = 64 * 1024  # refused with 431 past this (cheroot's check)
# Bodies up to this are read by the selector, before a worker is involved; the API takes at most one
# Segment message (32 KB), so every valid body fits. Larger ones are refused by cheroot (413).
PREFETCH_BODY_BYTES: Final = 2 * SEGMENT_MESSAGE_MAX_BYTES
_READ_CHUNK: Final = 16 * 1024  # a typical request is under 1 KB; more comes on the next wake-up
_HEAD_END: Final = b"\r\n\r\n"


class DeadlineSocket(socket.socket):
    """A socket whose reads first drain ``pending`` (filled by the selector), then wait for the network
    no longer than ``deadline`` (``time.monotonic()``; None: only the per-read timeout)."""

    pending: bytearray
    deadline: float | None
    read_timeout: float
    deadline_seconds: float

    @classmethod
    def adopt(
        cls, accepted: socket.socket, read_timeout: float, deadline_seconds: float = REQUEST_DEADLINE_SECONDS
    ) -> DeadlineSocket:
        sock = cls(accepted.family, accepted.type, accepted.proto, fileno=accepted.detach())
        sock.pending = bytearray()
        sock.deadline = None
        sock.read_timeout = read_timeout
        sock.deadline_seconds = deadline_seconds
        sock.settimeout(read_timeout)
        return sock

    def start_deadline(self) -> None:
        self.deadline = time.monotonic() + self.deadline_seconds

    def fill(self) -> int:
        """Move what the kernel holds into ``pending`` without blocking: bytes read (0: the peer closed).
        Called by the selector thread when the socket is readable; starts the deadline at the first byte."""
        try:
            data = super().recv(_READ_CHUNK, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return -1  # nothing after all (a spurious wake-up)
        if data and self.deadline is None:
            self.start_deadline()
        self.pending += data
        return len(data)

    def recv_into(self, buffer: memoryview | bytearray, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        if self.pending:
            size = min(len(self.pending), nbytes or len(buffer))
            buffer[:size] = self.pending[:size]
            del self.pending[:size]
            return size
        if self.deadline is None:
            return super().recv_into(buffer, nbytes, flags)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")  # cheroot answers 408 to exactly this message
        self.settimeout(min(self.read_timeout, left))
        try:
            return super().recv_into(buffer, nbytes, flags)
        finally:
            self.settimeout(self.read_timeout)

    def overdue(self, now: float) -> bool:
        return self.deadline is not None and now > self.deadline


def _header_value(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a lower-cased raw head; the last one when repeated."""
    found = None
    for line in head.split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip() == name:
            found = value.strip()
    return found


def request_ready(pending: bytes | bytearray) -> bool:
    """Whether a worker can take the request starting ``pending`` without waiting on the network for
    long: its head is complete and so is its body, or the request is one cheroot refuses at once anyway
    (head too large, body over the prefetch size, an unreadable length) or one whose client waits for
    ``100 Continue``. An incomplete request stays with the selector until its deadline.

    Runs in the selector thread for every request, so the common case (a head without a body) is decided
    by substring tests in C, and header values are parsed only when a body header is present."""
    end = pending.find(_HEAD_END)
    if end < 0:
        return len(pending) > MAX_REQUEST_HEADER_BYTES
    head = bytes(pending[:end]).lower()
    if b"\ncontent-length:" not in head and b"\ntransfer-encoding:" not in head:
        return True  # no body
    if b"\nexpect:" in head and _header_value(head, b"expect") == b"100-continue":
        return True
    body = len(pending) - end - len(_HEAD_END)
    if b"\ntransfer-encoding:" in head:
        # Chunked: complete at the last chunk (a false positive only lets a worker read the rest, within
        # the deadline); past the prefetch size cheroot's own body limit decides.
        return body > PREFETCH_BODY_BYTES or bytes(pending[end:]).endswith(b"0\r\n\r\n")
    length = _header_value(head, b"content-length") or b""
    if not length.isdigit():
        return True  # cheroot answers 400
    return int(length) > PREFETCH_BODY_BYTES or body >= int(length)
