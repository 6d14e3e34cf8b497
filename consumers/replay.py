"""Replay Segment history (JSON lines, plain or gzip) or a saved Lambda event through the Kinesis handler."""

from __future__ import annotations

import gzip
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from consumers.kinesis import handle_event
from consumers.lambda_events import lambda_events
from consumers.pipeline import Pipeline
from schemas.batch import BatchCounts

_GZIP_MAGIC = b"\x1f\x8b"
# Read this many messages at a time from a JSON-lines file, so memory stays flat on any input size.
_READ_CHUNK = 5_000


class InputError(Exception):
    """The replay input is not something pue can read; the message says what was expected."""


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
    return path.open("rb")


def _looks_like_lambda_event(path: Path) -> bool:
    with _open(path) as stream:
        for line in stream:
            stripped = line.strip()
            if not stripped:
                continue
            try:
                first = json.loads(stripped)
            except ValueError:
                return stripped.startswith(b"{")  # a pretty-printed document, not JSON lines
            return isinstance(first, dict) and "Records" in first
    return False


def is_lambda_event(path: Path) -> bool:
    """True when ``path`` is a saved Lambda Kinesis event document (not JSON lines); InputError if absent."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return _looks_like_lambda_event(path)


def _lines(path: Path) -> Iterator[bytes]:
    with _open(path) as stream:
        for line in stream:
            stripped = line.strip()
            if stripped:
                yield stripped


def events_from(path: Path, batch_size: int) -> Iterator[dict[str, Any]]:
    """Lambda events for ``path``: a saved event as is, JSON lines in batches of ``batch_size``."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if _looks_like_lambda_event(path):
        with _open(path) as stream:
            try:
                event = json.load(stream)
            except ValueError as exc:
                raise InputError(f"{path}: neither JSON lines nor a Lambda event document ({exc})") from exc
        if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
            raise InputError(f'{path}: a Lambda Kinesis event must be an object with a "Records" list')
        records = event["Records"]
        for start in range(0, len(records), batch_size):
            yield {"Records": records[start : start + batch_size]}
        return
    # Lines that are not JSON still go through: the handler dead-letters them with the reason.
    sequence = 0
    pending: list[bytes] = []
    for line in _lines(path):
        pending.append(line)
        if len(pending) == _READ_CHUNK:
            yield from lambda_events(pending, batch_size=batch_size, first_sequence=sequence)
            sequence += len(pending) + 1
            pending = []
    if pending:
        yield from lambda_events(pending, batch_size=batch_size, first_sequence=sequence)


def replay(
    events: Iterator[dict[str, Any]],
    pipeline: Pipeline,
    progress: Callable[[BatchCounts, float], None] | None = None,
) -> BatchCounts:
    total = BatchCounts()
    started = time.perf_counter()
    for event in events:
        _, result = handle_event(event, pipeline)
        if result is None:
            raise RuntimeError("the pipeline failed on a batch; see the log for the cause")
        total.add(result.counts)
        if progress:
            progress(total, time.perf_counter() - started)
    return total


def print_progress(stream: IO[str] | None = None) -> Callable[[BatchCounts, float], None]:
    def show(counts: BatchCounts, seconds: float) -> None:
        out = stream or sys.stderr  # looked up per call: tests and callers may swap sys.stderr
        if not out.isatty():
            return  # a carriage-return progress line is noise in a log file or a pipe
        rate = counts.records / seconds if seconds > 0 else 0.0
        out.write(f"\r  {counts.records:>8} records  {rate:>9.0f} records/s")
        out.flush()

    return show
