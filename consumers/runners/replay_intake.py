"""``pue replay``'s intake of JSON lines: read, decode and normalize a batch at a time, in a second process.

Decode and normalize are pure functions of a record (``consumers.stream.intake``), so they can run ahead of
the pipeline in another process while the main one tracks, learns and accounts: ``IntakeProcess`` reads
the file and decodes one batch ahead (the pipe holds one batch: memory stays flat), and the main process
hands each ``DecodedBatch`` to ``Pipeline.handle_entries``. What comes out is exactly what the Lambda
events of ``consumers.runners.replay.events_from`` would give through ``Pipeline.handle``: the same batches
(5,000 lines read at a time, cut at ``batch_size``; a line too long for Kinesis ends a chunk), the same
sequence numbers and partition keys, the same entries; only the base64 round trip of building a Kinesis
record for every line is skipped.

The process is spawned (not forked: the main process holds threads and a SQLite connection; the same code
runs on Linux and macOS). It ignores Ctrl-C: the main process stops it; if the main process is killed
(SIGKILL), it exits on its own (``consumers.runners.parent_watch``). An ``InputError`` (a truncated
.gz) comes back as an ``InputError`` after the batches read before it, as it would in one process.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Final

from consumers.config.logs import configure_logging
from consumers.runners import pipe_pickle
from consumers.runners.collector_pause import collector_paused
from consumers.runners.lambda_events import (
    DEFAULT_SHARD,
    DEFAULT_STREAM_ARN,
    partition_key_of,
    partition_key_of_message,
    sequence_number,
)
from consumers.runners.parent_watch import exit_with_parent
from consumers.runners.replay_input import InputError, OversizeLine, UnreadLine, line_chunks
from consumers.stream.accounting import Entry
from consumers.stream.decode import Decoded, RecordRef, decode_payload
from consumers.stream.event_map import EventMap
from consumers.stream.intake import payload_entries
from schemas.interaction import Interaction
from schemas.outcome import Filtered, Poison, Tracked

STOP_SECONDS: Final = 10.0  # how long a stopped intake process may take to exit before it is killed


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """One batch of JSON lines, decoded and normalized: what ``Pipeline.handle`` would have made of the
    Lambda event holding them."""

    entries: list[Entry]


def decoded_batches(path: Path, batch_size: int, event_map: EventMap) -> Iterator[DecodedBatch | UnreadLine]:
    """The batches of JSON-lines file ``path``, decoded, and an ``UnreadLine`` where a line is too long."""
    for chunk in line_chunks(path):
        if isinstance(chunk, UnreadLine):
            yield chunk
        else:
            yield from _batches(chunk.lines, chunk.after, batch_size, event_map)


def _batches(
    payloads: list[bytes], sequence: int, batch_size: int, event_map: EventMap
) -> Iterator[DecodedBatch]:
    for start in range(0, len(payloads), batch_size):
        now = datetime.now(UTC)  # per batch, as Pipeline.handle reads the clock
        entries: list[Entry] = []
        for offset, payload in enumerate(payloads[start : start + batch_size], start + sequence + 1):
            entries.extend(_entries(payload, sequence_number(offset), event_map, now))
        yield DecodedBatch(entries)


def _entries(payload: bytes, sequence: str, event_map: EventMap, now: datetime) -> list[Entry]:
    # The partition key lambda_events would give the record (Segment's: userId, else anonymousId), read
    # from the message decoded here rather than by parsing the line a second time.
    ref = RecordRef(DEFAULT_SHARD, sequence, None, None, DEFAULT_STREAM_ARN)
    decoded = decode_payload(ref, payload)
    item = decoded[0]
    if len(decoded) == 1 and isinstance(item, Decoded):
        key = partition_key_of_message(item.message)
        decoded = [
            Decoded(RecordRef(DEFAULT_SHARD, sequence, None, key, DEFAULT_STREAM_ARN), payload, item.message)
        ]
    else:  # not one JSON object (dead-lettered) or a KPL aggregate: rare, decoded again with its key
        key = partition_key_of(payload)
        decoded = decode_payload(RecordRef(DEFAULT_SHARD, sequence, None, key, DEFAULT_STREAM_ARN), payload)
    return payload_entries(decoded, payload, event_map, now)


# What a batch is made of crosses the pipe as constructor calls (consumers.runners.pipe_pickle).
_REDUCERS: Final = pipe_pickle.reducers(
    (DecodedBatch, Entry, RecordRef, Tracked, Filtered, Poison, Interaction, UnreadLine, OversizeLine)
)


def dumps(item: object) -> bytes:
    """``item`` pickled for the pipe (``pickle.loads`` reads it)."""
    return pipe_pickle.dumps(item, _REDUCERS)


@dataclass(frozen=True, slots=True)
class _End:
    pass


@dataclass(frozen=True, slots=True)
class _Failed:
    message: str
    input_error: bool


def _intake_main(
    connection: Connection, path: Path, batch_size: int, event_map: EventMap, log_level: int
) -> None:
    """The intake process: every batch of ``path`` down ``connection``, then ``_End`` (or ``_Failed``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    exit_with_parent()  # and when the main process is killed, this one ends too
    configure_logging(logging.getLevelName(log_level))
    try:
        for item in decoded_batches(path, batch_size, event_map):
            connection.send_bytes(dumps(item))
        outcome: _End | _Failed = _End()
    except InputError as exc:
        outcome = _Failed(str(exc), input_error=True)
    except (BrokenPipeError, EOFError):
        return  # the main process stopped reading: it has stopped the replay
    except Exception:
        outcome = _Failed(traceback.format_exc(), input_error=False)
    try:
        connection.send_bytes(pickle.dumps(outcome))
    except (BrokenPipeError, EOFError):
        pass
    finally:
        connection.close()


def _loads(data: bytes) -> object:
    # A batch is ~20,000 new objects and no reference cycle: the cycle collector, run by allocation counts
    # while they are built, would only walk them (two thirds of the load's CPU, measured on 100k records).
    with collector_paused():
        return pickle.loads(data)  # noqa: S301 - our own child process's output


class IntakeProcess:
    """``decoded_batches`` computed in a spawned process, one batch ahead. Iterate once; ``close()``."""

    def __init__(self, path: Path, batch_size: int, event_map: EventMap) -> None:
        context = multiprocessing.get_context("spawn")
        self._receive, send = context.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()  # as configured by the CLI (-v)
        self._process = context.Process(
            target=_intake_main,
            args=(send, path, batch_size, event_map, level),
            name="pue-intake",
            daemon=True,  # never outlives the replay, whatever stops it
        )
        self._process.start()
        send.close()  # the child holds the writing end: its exit is our EOF

    def __iter__(self) -> Iterator[DecodedBatch | UnreadLine]:
        while True:
            try:
                data = self._receive.recv_bytes()
            except EOFError:
                self._process.join(STOP_SECONDS)
                raise RuntimeError(
                    f"the intake process ended unexpectedly (exit code {self._process.exitcode})"
                ) from None
            item = _loads(data)
            if isinstance(item, _End):
                self._process.join(STOP_SECONDS)  # it has nothing left to do: reap it now
                return
            if isinstance(item, _Failed):
                if item.input_error:
                    raise InputError(item.message)
                raise RuntimeError(f"the intake process failed:\n{item.message}")
            if not isinstance(item, DecodedBatch | UnreadLine):
                raise RuntimeError(f"the intake process sent a {type(item).__name__}")
            yield item

    def close(self) -> None:
        """Stop the process (at once if it is still reading: the replay stopped early) and reap it."""
        if self._process.is_alive() and self._process.exitcode is None:
            self._receive.close()  # a child blocked on a full pipe now gets BrokenPipeError
            self._process.join(0.5)
            if self._process.is_alive():
                self._process.terminate()
        self._process.join(STOP_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._receive.close()

    def __enter__(self) -> IntakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
