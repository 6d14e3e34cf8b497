"""Segment history as a stream of lines: JSON lines, plain or gzip, from files and directories.

A Segment S3 archive (Amazon S3 destination) is laid out as
``s3://{bucket}/segment-logs/{source-id}/{received-day}/{file}.gz``: gzipped, newline-separated JSON, one
call per line, grouped by the UTC day Segment received them (https://segment.com/docs/connections/storage/
catalog/amazon-s3/). ``aws s3 sync`` copies that tree as is; pointing ``pue export`` at the copy reads every
archive file under it, in path order, which is received-day order (the day folders are epoch
milliseconds, all of the same width).

Nothing here holds more than one line at a time: a line longer than ``MAX_LINE_BYTES`` (far above
Segment's 32 KB message limit) is reported as too long and skipped without being read into memory whole.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
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


class InputError(Exception):
    """An input path pue cannot read as Segment history; the message names the path and the problem."""


@dataclass(frozen=True, slots=True)
class Line:
    """One non-blank line of input and where it came from (1-based line number)."""

    path: Path
    number: int
    data: bytes | None  # None when the line was longer than MAX_LINE_BYTES (skipped)


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
    """Iterates the lines of ``files``; ``bytes_done`` says how far it got (compressed bytes for .gz)."""

    def __init__(self, files: Iterable[Path]) -> None:
        self._files = tuple(files)
        self._finished_bytes = 0
        self._raw: IO[bytes] | None = None

    @property
    def bytes_done(self) -> int:
        current = 0
        if self._raw is not None and not self._raw.closed:
            current = self._raw.tell()
        return self._finished_bytes + current

    def __iter__(self) -> Iterator[Line]:
        for path in self._files:
            yield from self._lines(path)

    def _lines(self, path: Path) -> Iterator[Line]:
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        self._raw = raw
        try:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
            try:
                yield from _split(path, stream)
            except (OSError, EOFError) as exc:  # a truncated or corrupt .gz: say which file, stop there
                raise InputError(f"{path}: cannot decompress: {exc}") from exc
            self._finished_bytes += os.fstat(raw.fileno()).st_size
        finally:
            raw.close()
            self._raw = None


def _split(path: Path, stream: IO[bytes]) -> Iterator[Line]:
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            _skip_rest_of_line(stream)
            yield Line(path, number, None)
            continue
        stripped = line.strip()
        if stripped:
            yield Line(path, number, stripped)


def _skip_rest_of_line(stream: IO[bytes]) -> None:
    while True:
        chunk = stream.readline(_SKIP_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return
