"""A request's framing, checked and completed by the selector thread before a worker sees it (issue 23).

``request_reader`` keeps a worker from waiting for a slow head; this keeps it from waiting for a body, and
refuses framing that would let two parties disagree about where a request ends (request smuggling, RFC 9112
§6.3, §11.2). For each request at the front of a connection's ``pending`` bytes, ``RequestFrame.examine``
answers ``MORE`` (keep reading, within the deadline), ``READY`` (a worker can take it from memory) or an
HTTP status to refuse it with; the caller sends that answer and closes the connection:

- 400: a space or tab before a field's colon (RFC 9112 §5.1), a folded line (§5.2), Content-Length with
  Transfer-Encoding (§6.1, §6.3: "ought to be handled as an error"), Content-Length that is not one run of
  digits (``+5``, ``5_0``, ``5, 5``, or given twice: §6.3, RFC 9110 §8.6), chunked not the final or given
  twice, Transfer-Encoding on HTTP/1.0 (§6.1), a malformed chunk (§7.1), and an HTTP/1.1 request
  without exactly one Host (§3.2);
- 501: a transfer coding other than chunked (§6.1);
- 413: a body over ``PREFETCH_BODY_BYTES``, said before the client sends it.

A chunked body is decoded here and the request rewritten with a Content-Length, so the worker (cheroot)
reads only Content-Length bodies: its chunked reader (``int(size, 16)`` takes ``0x2`` and ``+2``, a bad
size is a 500 with the line in the log, trailers and unread chunks are left on the wire as the next
request) is never used. Trailer fields are dropped (RFC 9110 §6.5.1 lets a recipient that removes the
chunked coding discard them).

``Expect: 100-continue`` (RFC 9110 §10.1.1): the expectation is one the server can meet, so 417 would be
wrong, and a body that cannot arrive must not reach a worker; so the selector sends ``100 Continue``
itself (``continue_due``) when the head is acceptable and no body byte has come, and removes the field
from the head it hands over, so cheroot does not send a second one. A body that would be refused (413)
gets the refusal instead, before the client sends it, as the RFC asks.

The common request (a head without a body) costs a few substring tests on the lower-cased head.
"""

from __future__ import annotations

from typing import Final

from schemas.limits import SEGMENT_MESSAGE_MAX_BYTES

MAX_REQUEST_HEADER_BYTES: Final = 64 * 1024  # refused with 431 past this (cheroot's check)
# Bodies up to this are read by the selector, before a worker is involved; the API takes at most one
# Segment message (32 KB), so every valid body fits. Larger ones are refused here (413).
PREFETCH_BODY_BYTES: Final = 2 * SEGMENT_MESSAGE_MAX_BYTES
MORE: Final = -1
READY: Final = 0
_HEAD_END: Final = b"\r\n\r\n"
_CRLF: Final = b"\r\n"
_MAX_CHUNK_LINE_BYTES: Final = 1024  # a size and extensions; a real client sends a few bytes
_MAX_LENGTH_DIGITS: Final = 10  # no int() of a thousand digits; anything this long is over the limit anyway
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


class RequestFrame:
    """The framing of the request at the front of one connection's ``pending`` bytes; a new one for each
    request (``DeadlineSocket.frame``)."""

    def __init__(self) -> None:
        self.body_start = -1  # offset of the body's first byte once the head is complete
        self.head_lines: list[bytes] = []  # as sent, minus the fields this module consumes
        self.length = 0  # Content-Length; for chunked, the data decoded so far
        self.chunked = False
        self.expects_continue = False
        self.continue_sent = False
        self.scan = 0  # chunked: offset in pending of the next chunk-size line
        self.data = bytearray()  # chunked: the decoded body
        self.in_trailers = False
        self.refusal = ""  # why the request was refused: a fixed text, never the client's bytes

    @property
    def continue_due(self) -> bool:
        """Whether to send ``100 Continue`` now: the head is accepted and no body byte has come."""
        return self.expects_continue and not self.continue_sent

    def examine(self, pending: bytearray) -> int:
        """``MORE``, ``READY`` (``pending`` then starts with a Content-Length request a worker can read from
        memory), or the status to refuse the request with."""
        if self.body_start < 0:
            verdict = self._examine_head(pending)
            if verdict != MORE or self.body_start < 0:
                return verdict  # refused, ready without a body, or the head is still coming
        if self.chunked:
            return self._examine_chunks(pending)
        if len(pending) - self.body_start >= self.length:
            self._hand_over(pending, None)
            return READY
        return MORE

    def _examine_head(self, pending: bytearray) -> int:
        end = pending.find(_HEAD_END)
        if end < 0:
            # Past the limit, cheroot answers 431 at once; a worker can take it.
            return READY if len(pending) > MAX_REQUEST_HEADER_BYTES else MORE
        head = bytes(pending[:end]).lower()
        http11 = head.partition(_CRLF)[0].endswith(b" http/1.1")
        if b" :" in head or b"\t:" in head or b"\n " in head or b"\n\t" in head:
            if _bad_field_lines(head):
                return self._refuse(400, "whitespace before a field's colon, or a folded line")
        if http11 and head.count(b"\nhost:") != 1:
            return self._refuse(400, "HTTP/1.1 without exactly one Host")
        if b"\ncontent-length:" not in head and b"\ntransfer-encoding:" not in head:
            return READY  # no body: the common case
        return self._frame_body(pending, end, http11)

    def _frame_body(self, pending: bytearray, end: int, http11: bool) -> int:
        lines = bytes(pending[:end]).split(_CRLF)
        kept = [lines[0]]
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.lower()
            value = value.strip(b" \t")
            if key == b"content-length":
                lengths.append(value)
            elif key == b"transfer-encoding":
                codings.extend(part.strip(b" \t").lower() for part in value.split(b","))
            elif key == b"expect" and http11 and value.lower() == b"100-continue":
                self.expects_continue = True
            else:
                kept.append(line)
        if codings:
            verdict = self._frame_codings(codings, http11, with_length=bool(lengths))
        else:
            verdict = self._frame_length(lengths)
        if verdict != MORE:
            return verdict
        self.head_lines = kept
        self.body_start = end + len(_HEAD_END)
        self.scan = self.body_start
        if len(pending) > self.body_start:
            self.continue_sent = True  # the client did not wait: no 100 owed (RFC 9110 §10.1.1)
        return MORE

    def _frame_codings(self, codings: list[bytes], http11: bool, *, with_length: bool) -> int:
        if with_length or not http11:
            return self._refuse(400, "Transfer-Encoding with Content-Length, or on HTTP/1.0")
        if codings[-1] != b"chunked":
            return self._refuse(400, "chunked is not the final transfer coding")
        if codings.count(b"chunked") > 1 or b"" in codings:
            return self._refuse(400, "chunked given twice or an empty coding")
        if len(codings) > 1:
            return self._refuse(501, "a transfer coding other than chunked")
        self.chunked = True
        return MORE

    def _frame_length(self, lengths: list[bytes]) -> int:
        if len(lengths) != 1 or not lengths[0].isdigit() or len(lengths[0]) > _MAX_LENGTH_DIGITS:
            return self._refuse(400, "Content-Length repeated or not one run of digits")
        self.length = int(lengths[0])
        if self.length > PREFETCH_BODY_BYTES:
            return self._refuse(413, "a body over the limit")
        return MORE

    def _examine_chunks(self, pending: bytearray) -> int:
        """Decode what has arrived of a chunked body (RFC 9112 §7.1), from where the last call stopped."""
        while True:
            line_end = pending.find(_CRLF, self.scan, self.scan + _MAX_CHUNK_LINE_BYTES + 2)
            if line_end < 0:
                if len(pending) - self.scan > _MAX_CHUNK_LINE_BYTES:
                    return self._refuse(400, "a chunk-size line too long")
                return MORE
            line = bytes(pending[self.scan : line_end])
            if self.in_trailers:
                if not line:
                    self._hand_over(pending, line_end + 2)
                    return READY
                if _bad_field_lines(b"\n" + line.lower()) or b":" not in line:
                    return self._refuse(400, "a malformed trailer field")
                self.scan = line_end + 2
                continue
            size_text = line.split(b";", 1)[0].rstrip(b" \t")
            if not size_text or len(size_text) > 8 or not _HEX.issuperset(size_text):
                return self._refuse(400, "a malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                self.in_trailers = True
                self.scan = line_end + 2
                continue
            if len(self.data) + size > PREFETCH_BODY_BYTES:
                return self._refuse(413, "a body over the limit")
            data_end = line_end + 2 + size
            if len(pending) < data_end + 2:
                return MORE
            if pending[data_end : data_end + 2] != _CRLF:
                return self._refuse(400, "chunk data longer than its size")
            self.data += pending[line_end + 2 : data_end]
            self.scan = data_end + 2

    def _refuse(self, status: int, reason: str) -> int:
        self.refusal = reason
        return status

    def _hand_over(self, pending: bytearray, message_end: int | None) -> None:
        """Rewrite the request in ``pending`` as the worker will read it: without the fields consumed here,
        a chunked body decoded, with its Content-Length. Nothing to do for a plain request."""
        if not self.chunked and not self.expects_continue:
            return
        if self.chunked:
            body = bytes(self.data)
        else:
            message_end = self.body_start + self.length
            body = bytes(pending[self.body_start : message_end])
        self.head_lines.append(b"Content-Length: " + str(len(body)).encode())
        pending[:message_end] = _CRLF.join(self.head_lines) + _HEAD_END + body


def _bad_field_lines(head: bytes) -> bool:
    """Whether a field line has whitespace before its colon or is a folded continuation (obs-fold)."""
    for line in head.split(b"\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            return True
        name, colon, _ = line.partition(b":")
        if colon and name != name.rstrip(b" \t"):
            return True
    return False
