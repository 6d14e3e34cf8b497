"""cheroot's connection manager, changed so that no worker thread waits for a client (issue 14).

cheroot 11 (``cheroot.connections.ConnectionManager``) keeps idle keep-alive connections in a selector,
but hands every *newly accepted* connection straight to a worker, which blocks in ``recv``; and a
readable connection goes to a worker at its first byte. Here a connection reaches a worker only when its
whole request is in memory (``request_reader.request_ready``):

- accepted connections join the selector, like idle keep-alive ones; they cost a file descriptor, no thread;
- a readable connection is read by the selector thread, without blocking, into its ``pending`` buffer;
- a request not complete within ``REQUEST_DEADLINE_SECONDS`` of its first byte is answered 408 and closed;
  a connection that sends nothing is closed after the server's idle timeout, as cheroot did.

The selector thread only ever reads what is already there, so a slow client delays no one else.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from cheroot import connections, errors
from cheroot.makefile import MakeFile

from consumers.web.request_reader import REQUEST_DEADLINE_SECONDS, DeadlineSocket, request_ready
from consumers.web.server_errors import error_body

log = logging.getLogger("pue.api.server")

_OUT_OF_DESCRIPTORS_PAUSE_SECONDS: Final = 0.1
_READ_BACK_BYTES: Final = 1 << 20  # more than a reader ever buffers: read1 returns what it holds
# Sent (best effort, without blocking) to a client whose request missed its deadline.
_TIMEOUT_BODY: Final = error_body(408)
_TIMEOUT_RESPONSE: Final = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + f"Content-Length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


class WaitingConnectionManager(connections.ConnectionManager):
    """``ConnectionManager`` whose worker hand-off waits for a complete request. Runs in the thread that
    calls ``server.serve()``; ``put`` is called by worker threads (the selector is thread-safe)."""

    # cheroot's own attributes, which its type stubs leave out.
    _selector: Any
    _stop_requested: bool
    _remove_invalid_sockets: Callable[[], None]

    def __init__(self, server: Any, deadline_seconds: float = REQUEST_DEADLINE_SECONDS) -> None:
        super().__init__(server)
        self.deadline_seconds = deadline_seconds
        self.timed_out = 0  # requests answered 408 by the deadline (for tests and the log)

    def put(self, conn: Any) -> None:
        """A worker is done with ``conn``'s request and keeps the connection: wait for the next one."""
        conn.last_used = time.time()
        sock: DeadlineSocket = conn.socket
        sock.deadline = None
        if conn.rfile.has_data():
            # Bytes of the next request that the worker's reader already pulled in (pipelining): back in
            # front of ``pending``, so a partial next request waits here, not in a worker.
            sock.pending[:0] = conn.rfile.read1(len(sock.pending) + _READ_BACK_BYTES)
        if sock.pending:
            sock.start_deadline()  # the next request's first bytes are here
            if request_ready(sock.pending):
                _hand_over(conn, sock)
                self.server.process_conn(conn)
                return
        self._selector.register(sock.fileno(), selectors.EVENT_READ, data=conn)

    def _run(self, expiration_interval: float) -> None:
        last_expiration_check = time.time()
        while not self._stop_requested:
            try:
                active_list = self._selector.select(timeout=expiration_interval)
            except OSError:
                self._remove_invalid_sockets()
                continue
            for sock_fd, conn in active_list:
                if conn is self.server:
                    new_conn = self._accept(self.server.socket)
                    if new_conn is not None:
                        new_conn.last_used = time.time()
                        self._selector.register(new_conn.socket.fileno(), selectors.EVENT_READ, data=new_conn)
                else:
                    self._read_ready(sock_fd, conn)
            now = time.time()
            if (now - last_expiration_check) > expiration_interval:
                self._expire(threshold=now - self.server.timeout)
                last_expiration_check = now

    def _read_ready(self, sock_fd: int, conn: Any) -> None:
        sock: DeadlineSocket = conn.socket
        try:
            read = sock.fill()
        except OSError:
            read = 0  # reset by the peer
        if read == 0:
            self._selector.unregister(sock_fd)
            conn.close()
        elif request_ready(sock.pending):
            self._selector.unregister(sock_fd)
            _hand_over(conn, sock)
            self.server.process_conn(conn)

    def _expire(self, threshold: float) -> None:
        """Close connections idle since before ``threshold`` (cheroot's rule), and answer 408 to those
        whose request missed its deadline."""
        now = time.monotonic()
        expired = [
            (sock_fd, conn)
            for sock_fd, conn in self._selector.connections
            if conn is not self.server
            and (conn.socket.overdue(now) or (not conn.socket.pending and conn.last_used < threshold))
        ]
        for sock_fd, conn in expired:
            self._selector.unregister(sock_fd)
            if conn.socket.pending:
                self.timed_out += 1
                try:
                    conn.socket.send(_TIMEOUT_RESPONSE, socket.MSG_DONTWAIT)
                except OSError:
                    pass  # the client's window is full or it left: closing is the answer
            conn.close()

    def _accept(self, server_socket: socket.socket) -> Any:
        """cheroot's ``_from_server_socket`` for plain TCP, with the accepted socket a ``DeadlineSocket``."""
        try:
            accepted, addr = server_socket.accept()
        except OSError as exc:
            # EAGAIN (another thread took it), EINTR, ECONNABORTED, and EMFILE/ENFILE (out of descriptors:
            # logged; the connection stays in the backlog until one is free).
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                log.warning("accept failed: %s (raise the open-files limit, ulimit -n)", exc)
                time.sleep(_OUT_OF_DESCRIPTORS_PAUSE_SECONDS)  # else the listener stays readable: a busy loop
            elif exc.errno not in (*errors.socket_errors_nonblocking, *errors.socket_error_eintr):
                log.warning("accept failed: %s", exc)
            return None
        connections.prevent_socket_inheritance(accepted)
        sock = DeadlineSocket.adopt(accepted, float(self.server.timeout), self.deadline_seconds)
        conn = self.server.ConnectionClass(self.server, sock, MakeFile)
        if isinstance(addr, tuple) and len(addr) >= 2:
            conn.remote_addr, conn.remote_port = addr[0], addr[1]
        conn.ssl_env = {}
        return conn


def _hand_over(conn: Any, sock: DeadlineSocket) -> None:
    """Move the request read so far into the worker's reader, so the worker parses it from memory
    without a call back into the socket. cheroot's reader is ``_pyio.BufferedReader`` (makefile.py), and
    ``_read_buf`` / ``_read_pos`` are what cheroot's own ``has_data()`` reads."""
    reader = conn.rfile
    reader._read_buf = bytes(reader._read_buf[reader._read_pos :]) + bytes(sock.pending)
    reader._read_pos = 0
    sock.pending.clear()
