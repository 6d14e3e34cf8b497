"""What ``pue replay`` reads, with bounded memory whatever the file holds.

JSON lines (plain or gzip): one Segment message per line, read a line at a time. A line over Kinesis's
record limit (``KINESIS_RECORD_MAX_BYTES``: nothing that long can reach the stream) is never held whole: it
is read through in chunks and comes out as an ``OversizeLine`` (its size, SHA-256 and a short prefix), which
the replay dead-letters. A gzip bomb is just a very long input: decompressed a chunk at a time, it costs
time, not memory.

A saved Lambda Kinesis event (``{"Records": [...]}``, on one line or pretty-printed) is read whole, up to
Lambda's own payload limit. Any other multi-line JSON document (a pretty-printed message, a JSON array) is
refused with one ``InputError`` naming the expected shape, rather than a dead letter for each of its lines.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from consumers.runners.lambda_events import DEFAULT_SHARD, DEFAULT_STREAM_ARN, sequence_number
from consumers.stream.decode import RecordRef
from schemas.limits import (
    KINESIS_RECORD_MAX_BYTES,
    LAMBDA_KINESIS_MAX_BATCH_RECORDS,
    LAMBDA_PAYLOAD_MAX_BYTES,
)

# Read this many messages at a time from a JSON-lines file, so memory stays flat on any input size; as
# many as Lambda's largest batch, so a backfill's batches (cli/local_commands.py) are not cut shorter.
READ_CHUNK: Final = LAMBDA_KINESIS_MAX_BATCH_RECORDS
OVERSIZE_PREFIX_BYTES: Final = 4096  # what a letter keeps of a line too long to replay: enough to know it
_READ_CHUNK_BYTES: Final = 64 * 1024
# A Lambda event holds at most 10,000 records of 2 objects each (the record, its "kinesis"): ten times that
# is no event, and would cost memory to build (a 6 MB document of "{}," is two million dicts).
MAX_DOCUMENT_OBJECTS: Final = 10 * 2 * LAMBDA_KINESIS_MAX_BATCH_RECORDS
_GZIP_MAGIC: Final = b"\x1f\x8b"
EXPECTED_SHAPE: Final = (
    "pue replay reads JSON lines (one Segment message per line, plain or gzip) or a saved Lambda Kinesis "
    'event ({"Records": [...]})'
)


class InputError(Exception):
    """The replay input is not something pue can read; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class OversizeLine:
    """A line longer than ``KINESIS_RECORD_MAX_BYTES``: what is kept of it instead of its bytes."""

    number: int  # 1-based
    size: int
    sha256: str
    prefix: bytes  # the first OVERSIZE_PREFIX_BYTES


@dataclass(frozen=True, slots=True)
class UnreadLine:
    """A line too long to put in a Kinesis record, where it would have been in the stream."""

    line: OversizeLine
    ref: RecordRef


@dataclass(frozen=True, slots=True)
class LineChunk:
    """Up to ``READ_CHUNK`` lines in a row; the first is Kinesis record ``after + 1`` of the replay."""

    lines: list[bytes]
    after: int


def line_chunks(path: Path) -> Iterator[LineChunk | UnreadLine]:
    """The non-blank lines of JSON-lines file ``path``, ``READ_CHUNK`` at a time, numbered as the Kinesis
    records of one shard in a row; an ``UnreadLine`` (numbered too) ends a chunk where a line is too long."""
    sequence = 0  # the last sequence number used
    pending: list[bytes] = []
    for line in read_lines(path):
        if isinstance(line, OversizeLine) or len(pending) == READ_CHUNK:
            if pending:
                yield LineChunk(pending, sequence)
            sequence += len(pending)
            pending = []
        if isinstance(line, OversizeLine):
            sequence += 1
            yield UnreadLine(
                line, RecordRef(DEFAULT_SHARD, sequence_number(sequence), None, None, DEFAULT_STREAM_ARN)
            )
        else:
            pending.append(line)
    if pending:
        yield LineChunk(pending, sequence)


def open_input(path: Path) -> IO[bytes]:
    try:
        with path.open("rb") as probe:
            magic = probe.read(2)
        if magic == _GZIP_MAGIC:
            return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def read_lines(path: Path) -> Iterator[bytes | OversizeLine]:
    """The non-blank lines of ``path`` (stripped), an ``OversizeLine`` for each one over the limit."""
    number = 0
    with open_input(path) as stream:
        try:
            while line := stream.readline(KINESIS_RECORD_MAX_BYTES + 1):
                number += 1
                if len(line) > KINESIS_RECORD_MAX_BYTES and not line.endswith(b"\n"):
                    yield _oversize(number, line, stream)
                elif stripped := line.strip():
                    yield stripped
        except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz: say where it stopped
            raise InputError(f"{path}: cannot decompress past line {number}: {exc}") from exc


def _oversize(number: int, head: bytes, stream: IO[bytes]) -> OversizeLine:
    digest = hashlib.sha256(head)
    size = len(head)
    while chunk := stream.readline(_READ_CHUNK_BYTES):
        ending = chunk.endswith(b"\n")
        body = chunk[:-1] if ending else chunk
        digest.update(body)
        size += len(body)
        if ending:
            break
    return OversizeLine(number, size, digest.hexdigest(), head[:OVERSIZE_PREFIX_BYTES])


def lambda_event_in(path: Path) -> dict[str, Any] | None:
    """The saved Lambda event ``path`` holds, None when it holds JSON lines; ``InputError`` for any other
    JSON document (pretty-printed message, JSON array)."""
    first = _first_line(path)
    if first is None:
        return None
    try:
        value = json.loads(first, object_pairs_hook=_ObjectBudget(MAX_DOCUMENT_OBJECTS))
    except _TooManyObjects:
        if len(first) <= KINESIS_RECORD_MAX_BYTES:
            return None  # a line the stream could carry: JSON lines, the handler judges it
        raise InputError(_too_many_objects(path)) from None
    except RecursionError:
        return None  # one deeply nested line: JSON lines, dead-lettered by the handler
    except ValueError:
        if not _opens_a_document(first):
            return None  # a broken line among JSON lines: the handler dead-letters it
        return _document(path)
    if isinstance(value, dict) and "Records" in value:
        return _document(path)
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        raise InputError(
            f"{path}: a JSON array of {len(value)} objects on one line; {EXPECTED_SHAPE}. "
            "Convert an array with: jq -c '.[]' FILE > FILE.jsonl"
        )
    return None


def _first_line(path: Path) -> bytes | None:
    """The first non-blank line, up to a Lambda event's size (a saved event may be one long line); None for
    an empty file or a first line longer than that (JSON lines, whose first line is dead-lettered)."""
    with open_input(path) as stream:
        try:
            while line := stream.readline(LAMBDA_PAYLOAD_MAX_BYTES + 1):
                if len(line) > LAMBDA_PAYLOAD_MAX_BYTES:
                    return None
                if stripped := line.strip():
                    return stripped
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: cannot decompress: {exc}") from exc
    return None


def _opens_a_document(line: bytes) -> bool:
    # A pretty-printed document opens with "{" or "[" alone, or a key whose value goes on: '"Records": ['.
    return line in (b"{", b"[") or (line.startswith((b"{", b"[")) and line.endswith((b"{", b"[")))


class _TooManyObjects(ValueError):
    pass


class _ObjectBudget:
    """``object_pairs_hook`` that builds dicts until ``limit`` of them, then stops the parse."""

    def __init__(self, limit: int) -> None:
        self._left = limit

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self._left -= 1
        if self._left < 0:
            raise _TooManyObjects
        return dict(pairs)


def _too_many_objects(path: Path) -> str:
    return (
        f"{path}: a JSON document of over {MAX_DOCUMENT_OBJECTS:,} objects, more than a Lambda event holds; "
        f"{EXPECTED_SHAPE}"
    )


def _document(path: Path) -> dict[str, Any]:
    with open_input(path) as stream:
        try:
            text = stream.read(LAMBDA_PAYLOAD_MAX_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: cannot decompress: {exc}") from exc
    if len(text) > LAMBDA_PAYLOAD_MAX_BYTES:
        raise InputError(
            f"{path}: a multi-line JSON document over {LAMBDA_PAYLOAD_MAX_BYTES:,} bytes (larger than any "
            f"Lambda event); {EXPECTED_SHAPE}"
        )
    try:
        value = json.loads(text, object_pairs_hook=_ObjectBudget(MAX_DOCUMENT_OBJECTS))
    except _TooManyObjects:
        raise InputError(_too_many_objects(path)) from None
    except RecursionError:
        raise InputError(f"{path}: a JSON document nested too deeply; {EXPECTED_SHAPE}") from None
    except ValueError as exc:
        raise InputError(
            f"{path}: a multi-line document that is not JSON ({exc}); {EXPECTED_SHAPE}"
        ) from None
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        return value
    shape = "a JSON array" if isinstance(value, list) else "a pretty-printed JSON document"
    hint = "jq -c '.[]'" if isinstance(value, list) else "jq -c ."
    raise InputError(
        f"{path}: {shape}, not JSON lines; {EXPECTED_SHAPE}. Convert it with: {hint} FILE > FILE.jsonl"
    )
