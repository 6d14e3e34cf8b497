"""A request read off the wire before a worker thread sees it: the deadline socket.

cheroot hands a connection to one of its few worker threads, which then blocks in ``recv`` until the
request has arrived. Eight idle sockets, or eight that drip a header byte every few seconds, held every
worker (issue 14). Here the server's selector thread reads what a readable connection has, without
blocking, into ``DeadlineSocket.pending``; a worker gets the connection only once ``framing`` says the
head and its whole body (up to ``PREFETCH_BODY_BYTES``, chunked or not, after ``100 Continue``) are there.
The worker then reads it from memory. The whole request, head and body, must arrive within
``REQUEST_DEADLINE_SECONDS`` of its first byte: a deadline for the whole request, not per ``recv``.
"""

from __future__ import annotations

import socket
import time
from typing import Final

from consumers.web.framing import RequestFrame

# The longest a client may take to send one request, head and body, from its first byte. A browser or an
# SDK sends a request of a few KB in milliseconds; 10 s leaves room for a phone on a bad network.
REQUEST_DEADLINE_SECONDS: Final = 10.0
_READ_CHUNK: Final = 16 * 1024  # a typical request is under 1 KB; more comes on the next wake-up
_HEAD_END: Final = b"\r\n\r\n"


class DeadlineSocket(socket.socket):
    """A socket whose reads first drain ``pending`` (filled by the selector), then wait for the network
    no longer than ``deadline`` (``time.monotonic()``; None: only the per-read timeout)."""

    pending: bytearray
    frame: RequestFrame  # the framing of the request at the front of ``pending``
    deadline: float | None
    read_timeout: float
    deadline_seconds: float

    @classmethod
    def adopt(
        cls, accepted: socket.socket, read_timeout: float, deadline_seconds: float = REQUEST_DEADLINE_SECONDS
    ) -> DeadlineSocket:
        sock = cls(accepted.family, accepted.type, accepted.proto, fileno=accepted.detach())
        sock.pending = bytearray()
        sock.frame = RequestFrame()
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
