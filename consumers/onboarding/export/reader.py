"""Segment history as a stream of lines: JSON lines, plain or gzip, from files and directories.

A Segment S3 archive (Amazon S3 destination) is laid out as
``s3://{bucket}/segment-logs/{source-id}/{received-day}/{file}.gz``: gzipped, newline-separated JSON, one
call per line, grouped by the UTC day Segment received them (https://segment.com/docs/connections/storage/
catalog/amazon-s3/). ``aws s3 sync`` copies that tree as is; pointing ``pue export`` at the copy reads every
archive file under it, in path order, which is received-day order (the day folders are epoch
milliseconds, all of the same width).

Nothing here holds more than one line at a time: a line longer than ``MAX_LINE_BYTES`` (far above
Segment's 32 KB message limit) is reported as too long and skipped without being read into memory whole.

Bad input stays per record, as in the stream: a line too long, a gzip stream that turns out corrupt or
truncated part way (the lines before it are kept, the rest of that file is one ``Line`` with a fault), and
a file that vanished between listing and reading (an S3 object deleted by a lifecycle rule mid-export) each
become a ``Line`` with a ``fault`` reason that the export dead-letters and counts; the export goes on. An
input that cannot be read for any other reason (permissions) is the operator's to fix and stops the export.
``file_lines`` is the one per-file reader: the single-process export and the Spark executors both call it.
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

_GZIP_MAGIC: Final = b"\x1f\x8b"
# Files a directory walk picks up: what Segment's archive and warehouse exports write. Files named on the
# command line are read whatever their name.
ARCHIVE_SUFFIXES: Final = frozenset({".gz", ".json", ".jsonl", ".ndjson"})
# Segment rejects messages over 32 KB; a line 32 times that is not a Segment message, whatever it holds.
MAX_LINE_BYTES: Final = 1024 * 1024
_SKIP_CHUNK: Final = 64 * 1024
# Fault reasons: a fixed vocabulary, so the summary counts them by kind (details go to the log).
LINE_TOO_LONG: Final = "line longer than 1 MB"
CORRUPT_GZIP: Final = "gzip data corrupt or truncated: the rest of the file is skipped"
VANISHED: Final = "file vanished between listing and reading"

log = logging.getLogger("pue.export")


class InputError(Exception):
    """An input path pue cannot read as Segment history; the message names the path and the problem."""


@dataclass(frozen=True, slots=True)
class Line:
    """One non-blank line of input and where it came from (1-based line number; 0 for the whole file)."""

    path: str  # as listed: a local path, or s3://bucket/key
    number: int
    data: bytes | None  # None when the line could not be read: ``fault`` says why
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Inputs:
    files: tuple[Path, ...]
    skipped: tuple[Path, ...]  # files found in directories whose names are not archive files
    total_bytes: int


def discover(paths: Iterable[Path]) -> Inputs:
    """Every file to read, in a stable order: named files as given, directories walked in path order."""
    files: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for found in _walk(path):
                (files if found.suffix.lower() in ARCHIVE_SUFFIXES else skipped).append(found)
        else:
            raise InputError(f"{path}: no such file or directory")
    total = 0
    for file in files:
        try:
            total += file.stat().st_size
        except OSError as exc:
            raise InputError(f"{file}: cannot read: {exc.strerror or exc}") from exc
    return Inputs(tuple(files), tuple(skipped), total)


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(directory):
        # Hidden folders and files (.DS_Store, .git, aws s3 sync temp files) are never history.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(root) / name


class LineReader:
    """The lines of local ``files``; ``bytes_done`` says how far it got (compressed bytes for .gz)."""

    def __init__(self, files: Iterable[Path]) -> None:
        self._files = tuple(files)
        self._finished_bytes = 0
        self._raw: io.BufferedReader | None = None
        self._size = 0

    @property
    def bytes_done(self) -> int:
        current = 0
        if self._raw is not None and not self._raw.closed:
            current = self._raw.tell()
        return self._finished_bytes + current

    def __iter__(self) -> Iterator[Line]:
        for path in self._files:
            self._size = 0
            yield from file_lines(str(path), functools.partial(self._open, path))
            self._finished_bytes += self._size
            self._raw = None

    def _open(self, path: Path) -> io.BufferedReader:
        raw = path.open("rb")
        self._raw, self._size = raw, os.fstat(raw.fileno()).st_size
        return raw


def file_lines(source: str, open_raw: Callable[[], io.BufferedReader]) -> Iterator[Line]:
    """The lines of one input file, plain or gzip (told by its first bytes, not its name). ``open_raw``
    raises ``FileNotFoundError`` when the file is gone (one ``VANISHED`` fault); any other ``OSError`` is
    an ``InputError``. A decompression error ends the file with one ``CORRUPT_GZIP`` fault."""
    try:
        raw = open_raw()
    except FileNotFoundError:
        log.warning("%s: %s", source, VANISHED)
        yield Line(source, 0, None, VANISHED)
        return
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    with raw:
        compressed = raw.peek(2)[:2] == _GZIP_MAGIC  # peek: an S3 body cannot seek back
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
        number = 0
        try:
            for line in _split(source, stream):
                number = line.number
                yield line
        except (OSError, EOFError, zlib.error) as exc:  # a corrupt or truncated .gz: keep what came before
            log.warning("%s: line %d: %s (%s)", source, number + 1, CORRUPT_GZIP, exc)
            yield Line(source, number + 1, None, CORRUPT_GZIP)


def _split(path: str, stream: IO[bytes]) -> Iterator[Line]:
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            _skip_rest_of_line(stream)
            yield Line(path, number, None, LINE_TOO_LONG)
            continue
        stripped = line.strip()
        if stripped:
            yield Line(path, number, stripped)


def _skip_rest_of_line(stream: IO[bytes]) -> None:
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return
