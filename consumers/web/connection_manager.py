"""cheroot's connection manager, changed so that no worker thread waits for a client (issue 14).

cheroot 11 (``cheroot.connections.ConnectionManager``) keeps idle keep-alive connections in a selector,
but hands every *newly accepted* connection straight to a worker, which blocks in ``recv``; and a
readable connection goes to a worker at its first byte. Here a connection reaches a worker only when its
whole request is in memory, body included (``framing.RequestFrame``):

- accepted connections join the selector, like idle keep-alive ones; they cost a file descriptor, no thread;
- a readable connection is read by the selector thread, without blocking, into its ``pending`` buffer;
  the selector sends ``100 Continue`` itself, and answers framing RFC 9112 forbids (400, 413, 501) and
  closes (issue 23);
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

from consumers.web.framing import MORE, READY, RequestFrame
from consumers.web.request_reader import REQUEST_DEADLINE_SECONDS, DeadlineSocket
from consumers.web.server_errors import closing_response

log = logging.getLogger("pue.api.server")

_OUT_OF_DESCRIPTORS_PAUSE_SECONDS: Final = 0.1
_READ_BACK_BYTES: Final = 1 << 20  # more than a reader ever buffers: read1 returns what it holds
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
# What a refused client may still have in flight is read and dropped before the close, so the kernel does
# not reset the connection (and lose the answer) for unread bytes; bounded, without blocking.
_DRAIN_BYTES: Final = 256 * 1024


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
        self.refused = 0  # requests whose framing was refused (400, 413, 501) by the selector

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
            verdict = self._examine(sock)
            if verdict != MORE:
                self._dispatch(conn, sock, verdict)
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
            return
        verdict = self._examine(sock)
        if verdict != MORE:
            self._selector.unregister(sock_fd)
            self._dispatch(conn, sock, verdict)

    def _examine(self, sock: DeadlineSocket) -> int:
        """The request's framing so far (``RequestFrame.examine``); owes ``100 Continue`` once."""
        frame = sock.frame
        verdict = frame.examine(sock.pending)
        if verdict == MORE and frame.continue_due:
            frame.continue_sent = True
            # Non-blocking for real: in timeout mode Python waits out EAGAIN, flags or not.
            sock.settimeout(0)
            try:
                sock.send(_CONTINUE)
            except OSError:
                pass  # a client that does not read what it asked for sends its body anyway or times out
            finally:
                sock.settimeout(sock.read_timeout)
        return verdict

    def _dispatch(self, conn: Any, sock: DeadlineSocket, verdict: int) -> None:
        """A worker takes a ready request; a refused one is answered and its connection closed."""
        if verdict == READY:
            _hand_over(conn, sock)
            self.server.process_conn(conn)
            return
        self.refused += 1
        log.info("refused a request: %d, %s", verdict, sock.frame.refusal)
        _answer_and_close(conn, closing_response(verdict))

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
                _answer_and_close(conn, closing_response(408))
            else:
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


def _answer_and_close(conn: Any, response: bytes) -> None:
    """Send ``response`` (best effort, without blocking: a few hundred bytes fit any socket buffer), then
    close, first reading and dropping what the client already sent so the close is not a reset."""
    sock: DeadlineSocket = conn.socket
    try:
        sock.settimeout(0)  # in timeout mode Python would wait out EAGAIN, flags or not
        sock.send(response)
        sock.shutdown(socket.SHUT_WR)
        drained = 0
        while drained < _DRAIN_BYTES and (data := sock.recv(65536)):
            drained += len(data)
    except OSError:
        pass  # the client's window is full, it left, or it has nothing more in flight: closing is the answer
    conn.close()


def _hand_over(conn: Any, sock: DeadlineSocket) -> None:
    """Move the request read so far into the worker's reader, so the worker parses it from memory
    without a call back into the socket. cheroot's reader is ``_pyio.BufferedReader`` (makefile.py), and
    ``_read_buf`` / ``_read_pos`` are what cheroot's own ``has_data()`` reads."""
    reader = conn.rfile
    reader._read_buf = bytes(reader._read_buf[reader._read_pos :]) + bytes(sock.pending)
    reader._read_pos = 0
    sock.pending.clear()
    sock.frame = RequestFrame()  # for the next request on this connection
