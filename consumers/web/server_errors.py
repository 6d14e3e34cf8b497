"""What cheroot itself answers, in the API's shape: JSON errors, and one reading of a repeated ``x-api-key``.

cheroot answers some requests before the API sees them: a malformed request line (400), a head or body
too large (413/414/431), a request that took too long (408). Its answers were ``text/plain``; here they are
``{"error": {"code", "message"}}`` like every answer of the API (docs/api.md#errors), with a fixed message
per status, so nothing the client sent is echoed.

A header sent twice: cheroot keeps the last value, while API Gateway joins the values with commas. For
``x-api-key`` both now give the joined value, which the API refuses (400: send one key), on both.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Final

from cheroot import server

_API_KEY_HEADER: Final = b"X-Api-Key"  # as cheroot's header reader spells names (str.title())
_CODES: Final = {413: "payload_too_large", 500: "internal_error"}  # the API's own codes for these
_MESSAGES: Final = {
    400: "the request is not valid HTTP/1.1 (request line, headers or framing)",
    408: "the request took too long to arrive",
    413: "the request is larger than the server accepts",
    414: "the request line is longer than the server accepts",
    431: "the request headers are larger than the server accepts",
    500: "internal error",
    501: "the server does not implement this transfer encoding",
    505: "only HTTP/1.0 and HTTP/1.1 are served",
}


def error_body(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    code = _CODES.get(status, phrase.lower().replace(" ", "_").replace("-", "_"))
    message = _MESSAGES.get(status, phrase.lower())
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()


def closing_response(status: int) -> bytes:
    """A whole ``status`` answer that closes the connection, for the selector thread to send as is."""
    body = error_body(status)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


class _JoinedApiKeyHeaders(dict[bytes, bytes]):
    """cheroot's header dict, keeping every ``x-api-key`` value (comma-joined) instead of the last."""

    def __setitem__(self, name: bytes, value: bytes) -> None:
        if name == _API_KEY_HEADER and name in self:
            value = self[name] + b", " + value
        super().__setitem__(name, value)


class JsonErrorRequest(server.HTTPRequest):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inheaders = _JoinedApiKeyHeaders()

    def simple_response(self, status: Any, msg: str = "") -> None:
        code = int(str(status)[:3])
        body = error_body(code)
        head = [
            f"{self.server.protocol} {status}",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ]
        if code in (408, 413, 414, 431) or code >= 500:
            self.close_connection = True
            head.append("Connection: close")
        try:
            self.conn.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("iso-8859-1") + body)
        except OSError:
            pass  # the client left: nothing to tell it


class JsonErrorConnection(server.HTTPConnection):
    RequestHandlerClass = JsonErrorRequest
