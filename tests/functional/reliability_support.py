"""Shared by the reliability runs: planted secrets, log capture, leak scanning, and the run's tally.

The tally is what docs/reliability.md reports: records tried, faults injected, records lost, duplicates
created, secrets leaked. Each run fills one and lists what it found wrong, so a test asserts on the list
(and shows it when it is not empty) and the figures come from the very same checks.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from consumers.config.logs import configure_logging
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeTracker

# Planted values: long enough to be registered for redaction, distinctive enough to find anywhere.
SECRETS: Final = {
    "SEGMENT_WRITE_KEY": "wk-PLANTED-4f1d9a7c2e8b6035",
    "SEGMENT_PROFILE_TOKEN": "pt-PLANTED-9c3e5a1f7d2b4068",
    "PUE_API_KEY": "ak-PLANTED-2b8d6f0a4c9e1357",
}
# Every email address the hostile and fault data carry is at this domain (identify traits, track
# properties, context traits, unmapped event names).
EMAIL_DOMAIN: Final = "example.com"
_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_LIBRARY_LOGGERS: Final = ("segment", "botocore", "boto3", "urllib3", "requests")


@dataclass(slots=True)
class Tally:
    """One run's figures; ``problems`` explains every non-zero loss, duplicate or leak."""

    name: str
    records: int = 0  # user records tried (after KPL deaggregation)
    invocations: int = 0  # handler invocations, retries included
    faults: int = 0  # faults the cloud fake injected
    lost: int = 0
    duplicates: int = 0
    leaks: int = 0
    tracked: int = 0  # distinct events that reached the tracker
    dead_lettered: int = 0  # distinct dead letters kept
    filtered: int = 0
    problems: list[str] = field(default_factory=list)

    def lose(self, what: str, count: int = 1) -> None:
        self.lost += count
        self.problems.append(f"lost: {what}")

    def duplicate(self, what: str, count: int = 1) -> None:
        self.duplicates += count
        self.problems.append(f"duplicate: {what}")

    def leak(self, what: str, count: int = 1) -> None:
        self.leaks += count
        self.problems.append(f"leak: {what}")

    def add(self, other: Tally) -> None:
        for name in ("records", "invocations", "faults", "lost", "duplicates", "leaks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("tracked", "dead_lettered", "filtered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(f"{other.name}: {problem}" for problem in other.problems)


@contextmanager
def captured_logs(level: str = "DEBUG", *, libraries_at: int | None = None) -> Iterator[io.StringIO]:
    """Every log line pue would write, as Lambda would (``configure_logging``), into a buffer.

    ``libraries_at`` forces the third-party loggers (botocore, urllib3, segment...) to that level after
    ``configure_logging`` capped them: what an operator who turns their debug logs on would get.
    """
    root = logging.getLogger()
    saved_root = root.level
    saved = {name: logging.getLogger(name).level for name in _LIBRARY_LOGGERS}
    buffer = io.StringIO()
    configure_logging(level, stream=buffer)
    if libraries_at is not None:
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(libraries_at)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            if handler.get_name() == "pue-json":
                root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, value in saved.items():
            logging.getLogger(name).setLevel(value)


def secret_forms(secret: str) -> set[str]:
    """A secret as it could show up in a log line: plain, URL-quoted, or inside HTTP basic auth."""
    return {
        secret,
        quote(secret, safe=""),
        base64.b64encode(f"{secret}:".encode()).decode(),
    }


def find_leaks(texts: Iterable[tuple[str, str]], secrets: Mapping[str, str] = SECRETS) -> list[str]:
    """``(where, text)`` pairs -> one description per leak found (never the leaked value itself)."""
    found: list[str] = []
    forms = {form: name for name, value in secrets.items() for form in secret_forms(value)}
    for where, text in texts:
        for form, name in forms.items():
            if form in text:
                found.append(f"{name} in {where}")
        if EMAIL_DOMAIN in text or _EMAIL.search(text):
            found.append(f"an email address in {where}")
    return found


def log_lines(buffer: io.StringIO) -> list[tuple[str, str]]:
    return [(f"log line {n}", line) for n, line in enumerate(buffer.getvalue().splitlines(), 1)]


def response_texts(responses: Iterable[Mapping[str, Any] | None]) -> list[tuple[str, str]]:
    return [(f"handler response {n}", repr(r)) for n, r in enumerate(responses, 1)]


def memory_pipeline(dead_letters: FakeDeadLetters) -> Pipeline:
    """The real pipeline over the in-memory port fakes (``tests.fakes``)."""
    return Pipeline(
        tracker=FakeTracker(),
        recommender=FakeRecommender(),
        sinks=[],
        dead_letters=dead_letters,
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5),
        max_workers=2,
    )
