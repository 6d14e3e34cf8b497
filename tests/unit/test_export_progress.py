"""Export progress: a redrawn bar on a terminal, an occasional plain line in a log, never noise."""

from __future__ import annotations

import io

from consumers.onboarding.export.progress import LOG_LINE_SECONDS, Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_plain_line_per_interval_and_nothing_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(1000, out, clock)
    progress.update(10, 100)
    assert out.getvalue() == ""  # not due yet
    clock.now += LOG_LINE_SECONDS
    progress.update(5000, 500)
    progress.done(9000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pue export:  50.0%")
    assert "5,000 messages" in lines[0]
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_a_bar_redrawn_in_place_and_a_full_bar_at_the_end() -> None:
    out, clock = Terminal(), Clock()
    progress = Progress(2048, out, clock)
    clock.now += 1
    progress.update(100, 1024)
    progress.done(250)
    text = out.getvalue()
    assert text.startswith("\r[############------------]  50.0%")
    assert "\r[########################] 100.0%" in text
    assert "250 messages" in text
    assert text.endswith("\n")
