"""Replay Segment history (JSON lines, plain or gzip) or a saved Lambda event through the Kinesis handler."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Final

from consumers.runners.collector_pause import collector_paused
from consumers.runners.lambda_events import (
    lambda_events,
)
from consumers.runners.replay_input import (
    InputError,
    UnreadLine,
    lambda_event_in,
    line_chunks,
)
from consumers.runners.replay_intake import DecodedBatch
from consumers.stream.accounting import Entry, count, send_dead_letters
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import BatchResult, Pipeline
from schemas.batch import BatchCounts
from schemas.limits import KINESIS_RECORD_MAX_BYTES
from schemas.outcome import Poison

__all__ = ["DecodedBatch", "InputError", "UnreadLine", "events_from", "print_progress", "replay"]

log = logging.getLogger("pue.replay")

LINE_TOO_LONG: Final = f"line over the Kinesis record limit ({KINESIS_RECORD_MAX_BYTES:,} bytes)"


# A Lambda event, a batch the intake process decoded already, or a line too long to replay.
ReplayItem = dict[str, Any] | DecodedBatch | UnreadLine


def events_from(path: Path, batch_size: int) -> Iterator[ReplayItem]:
    """Lambda events for ``path``: a saved event as is, JSON lines in batches of ``batch_size``, and an
    ``UnreadLine`` where a line is too long for any Kinesis record."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    event = lambda_event_in(path)
    if event is not None:
        records = event["Records"]
        for start in range(0, len(records), batch_size):
            yield {"Records": records[start : start + batch_size]}
        return
    # Lines that are not JSON still go through: the handler dead-letters them with the reason.
    for chunk in line_chunks(path):
        if isinstance(chunk, UnreadLine):
            yield chunk
        else:
            yield from lambda_events(chunk.lines, batch_size=batch_size, first_sequence=chunk.after)


def is_lambda_event(path: Path) -> bool:
    """True when ``path`` is a saved Lambda Kinesis event document (not JSON lines); InputError if absent."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return lambda_event_in(path) is not None


def replay(
    events: Iterable[ReplayItem],
    pipeline: Pipeline,
    progress: Callable[[BatchCounts, float], None] | None = None,
    total: BatchCounts | None = None,
    stop: Callable[[], bool] | None = None,
) -> BatchCounts:
    """Every batch of ``events`` through ``pipeline``; their counts, added up in ``total`` when given (so a
    caller interrupted half-way still has the counts of the batches that completed). ``stop`` is asked
    after each batch: True ends the replay there, the rest of ``events`` unread."""
    total = BatchCounts() if total is None else total
    started = time.perf_counter()
    batches = iter(events)
    while True:
        # From the batch's arrival to its end, without the cycle collector: its objects are freed before
        # the collector runs again (collector_pause.py).
        with collector_paused():
            event = next(batches, None)
            if event is None:
                break
            oversize = isinstance(event, UnreadLine)
            if isinstance(event, UnreadLine):
                total.add(_dead_letter_oversize(event, pipeline))
            else:
                total.add(_counts(event, pipeline))
            del event
        if progress and not oversize:
            progress(total, time.perf_counter() - started)
        if stop is not None and stop():
            break
    return total


def _counts(event: dict[str, Any] | DecodedBatch, pipeline: Pipeline) -> BatchCounts:
    result = (
        _handle_decoded(event, pipeline)
        if isinstance(event, DecodedBatch)
        else handle_event(event, pipeline)[1]
    )
    if result is None:
        raise RuntimeError("the pipeline failed on a batch; see the log for the cause")
    return result.counts


def _handle_decoded(batch: DecodedBatch, pipeline: Pipeline) -> BatchResult | None:
    # As handle_event answers for a Lambda event: a bug fails the batch (None), it does not crash here.
    try:
        return pipeline.handle_entries(batch.entries)
    except Exception:
        log.exception("pipeline failed on a decoded batch")
        return None


def print_progress(stream: IO[str] | None = None) -> Callable[[BatchCounts, float], None]:
    def show(counts: BatchCounts, seconds: float) -> None:
        out = stream or sys.stderr  # looked up per call: tests and callers may swap sys.stderr
        if not out.isatty():
            return  # a carriage-return progress line is noise in a log file or a pipe
        rate = counts.records / seconds if seconds > 0 else 0.0
        out.write(f"\r  {counts.records:>8} records  {rate:>9.0f} records/s")
        out.flush()

    return show


def _dead_letter_oversize(unread: UnreadLine, pipeline: Pipeline) -> BatchCounts:
    # The letter keeps what can be kept: the line's start as its bytes, its size and SHA-256 in the reason
    # (to find it again in the file); the counted reason is the fixed LINE_TOO_LONG.
    line = unread.line
    detail = f"{LINE_TOO_LONG}: line {line.number}, {line.size:,} bytes, sha256 {line.sha256}, first "
    detail += f"{len(line.prefix):,} bytes kept"
    # Counted as a one-record batch (failed if the letter could not be written).
    entries = [Entry(unread.ref, line.prefix, Poison(detail), rejection_key=LINE_TOO_LONG)]
    send_dead_letters(entries, pipeline.dead_letters)
    counts = BatchCounts()
    count(entries, counts)
    pipeline.observe(counts)
    return counts
