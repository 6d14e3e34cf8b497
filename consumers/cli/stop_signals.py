"""SIGTERM stops a command as Ctrl-C does, and a batch command stops between batches (issue 24).

A container stop, ``timeout`` or a service manager sends SIGTERM, not SIGINT: without a handler Python dies
at once, running no cleanup (no commit of the work done, no summary, workers left behind). ``main`` turns
SIGTERM into ``Terminated``, a ``KeyboardInterrupt``, so every command cleans up after it exactly as after
Ctrl-C, and exits 143 (128 + 15) where Ctrl-C exits 130 (128 + 2), as a shell reports them.

``StopSignals`` is for commands that work in batches (``pue replay``): the first SIGINT or SIGTERM asks to
stop once the batch in flight is done (so what the summary counts is exactly what was kept); a second one
interrupts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Final

EXIT_INTERRUPTED: Final = 128 + signal.SIGINT  # 130
EXIT_TERMINATED: Final = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises ``KeyboardInterrupt`` (it is one: the same cleanup runs)."""


def exit_status(stop: BaseException | int) -> int:
    """130 for Ctrl-C, 143 for SIGTERM: an exception (``Terminated`` or ``KeyboardInterrupt``) or a signal."""
    if isinstance(stop, int):
        return 128 + stop
    return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _raise(signum: int, frame: FrameType | None) -> None:
    raise _interrupt(signum)


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise ``Terminated`` in the main thread; returns what puts the previous handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _raise)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


class StopSignals:
    """While entered: SIGINT/SIGTERM set ``signal`` (stop after the batch in flight); a second raises."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise _interrupt(signum)
        self.signal = signum
        name = signal.Signals(signum).name
        sys.stderr.write(
            f"\n{self.command}: {name}: stopping after the batch in flight ({name} again: at once)\n"
        )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {
                sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
            }
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]  # what signal.signal returned
        self._previous = {}
