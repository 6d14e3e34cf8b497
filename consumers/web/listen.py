"""Whether ``pue serve`` / ``pue run`` can listen where asked, said in words rather than as an ``OSError``.

``pue run`` asks before its demo (a busy port should not cost the user the demo's run first), and
``ApiServer`` translates the bind error itself too, since another process can take the port in between.
"""

from __future__ import annotations

import errno
import socket
from typing import Final

from schemas.errors import PermanentError

# The server's worker threads. Requests are short and mostly hold the GIL or the store's lock: more threads
# only add switching.
DEFAULT_THREADS: Final = 8
_HINTS: Final = {
    errno.EADDRINUSE: "the port is already in use (another pue serve or pue run?)",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's",
    errno.EACCES: "ports below 1024 need privileges",
}


class ListenError(PermanentError):
    """The server cannot listen on ``host:port``; the message says why and what to change."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        reason = _HINTS.get(error.errno or 0, error.strerror or str(error))
        shown = f"[{host}]" if ":" in host else host
        super().__init__(
            f"cannot listen on {shown}:{port}: {reason}. "
            "Choose another with --port N (--port 0: any free port)"
        )
        self.host = host
        self.port = port


def check_can_listen(host: str, port: int) -> None:
    """Raise ``ListenError`` if binding ``host:port`` fails now. Port 0 always succeeds: skipped."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(host, port, OSError(errno.EADDRNOTAVAIL, str(exc))) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the server does: a port whose old connections linger in TIME_WAIT is free to a new server.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ListenError(host, port, exc) from None
