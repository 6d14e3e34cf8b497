"""Progress of a long export on stderr: a live bar on a terminal, a plain line now and then in a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Final

_BAR_WIDTH: Final = 24
# A terminal is redrawn at most this often; a log (not a TTY) gets one plain line per interval.
TTY_REDRAW_SECONDS: Final = 0.2
LOG_LINE_SECONDS: Final = 30.0


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Progress:
    """Call ``update`` often; it draws only when due. ``done`` ends the bar's line."""

    def __init__(
        self,
        total_bytes: int,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = total_bytes
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self._drawn = False

    @property
    def _out(self) -> IO[str]:
        return self._stream or sys.stderr  # looked up per call: callers and tests may swap sys.stderr

    def update(self, messages: int, bytes_done: int) -> None:
        now = self._clock()
        tty = self._out.isatty()
        if now - self._last < (TTY_REDRAW_SECONDS if tty else LOG_LINE_SECONDS):
            return
        self._last = now
        self._draw(messages, bytes_done, now, tty)

    def done(self, messages: int) -> None:
        if self._out.isatty():
            self._draw(messages, self._total, self._clock(), True)
            self._out.write("\n")
            self._out.flush()

    def _draw(self, messages: int, bytes_done: int, now: float, tty: bool) -> None:
        seconds = max(now - self._started, 1e-9)
        fraction = min(bytes_done / self._total, 1.0) if self._total else 1.0
        rate = messages / seconds
        eta = (seconds / fraction - seconds) if fraction > 0 else 0.0
        text = (
            f"{fraction:6.1%}  {messages:>12,} messages  {_size(bytes_done)} of {_size(self._total)}"
            f"  {rate:,.0f} msg/s  eta {eta:,.0f} s"
        )
        if tty:
            filled = round(fraction * _BAR_WIDTH)
            bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
            self._out.write(f"\r[{bar}] {text}\x1b[K")
        else:
            self._out.write(f"pue export: {text}\n")
        self._out.flush()
