"""Dataset part files, written by the executors: same CSV as the single-process export, a header in each.

Personalize imports every CSV file under a folder in one dataset import job (``dataLocation`` ending in
``/``), each with its own header row, so a Spark export writes ``interactions/part-00000.csv``... rather
than one file funnelled through the driver. Rows are formatted by ``csv.writer`` with the settings of
``writer.CsvFile`` (the single-process writer): the same quoting, the same line ends.

A part's name is fixed by its partition (and, past ``EXPORT_PART_MAX_BYTES``, its piece), and its content
by the sorted rows in it, so a task Spark retries, or runs twice speculatively, writes the same file again:
no duplicate rows, nothing partial (each file is put whole).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Final

from consumers.onboarding.spark.storage import Storage
from schemas.limits import EXPORT_PART_MAX_BYTES

PartWritten = tuple[str, int]  # (location, data rows)
# A part is closed once less than this is left under its limit: more than any one row can take (ids of at
# most 256 characters, at most 5 metadata values of at most 1,000), so no part ever passes the limit.
_ROW_MARGIN: Final = 64 * 1024


def part_name(partition: int, piece: int, suffix: str) -> str:
    return f"part-{partition:05d}{f'-{piece}' if piece else ''}{suffix}"


class _Piece:
    def __init__(self, directory: Path, header: Sequence[str] | None) -> None:
        self.path = Path(tempfile.mkstemp(dir=directory, suffix=".part")[1])
        self.handle: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        if header is not None:
            self.writer.writerow(header)
        self.rows = 0


def write_parts(
    partition: int,
    rows: Iterable[Sequence[str] | str],
    *,
    storage: Storage,
    folder: str,
    header: Sequence[str] | None,
    suffix: str = ".csv",
    max_bytes: int = EXPORT_PART_MAX_BYTES,
) -> Iterator[PartWritten]:
    """Write one partition's ``rows`` (CSV rows, or ready lines when ``header`` is None) as part files of
    at most ``max_bytes``; yield each file written. An empty partition writes nothing."""
    with tempfile.TemporaryDirectory(prefix="pue-parts-") as scratch:
        piece: _Piece | None = None
        number = 0
        for row in rows:
            if piece is None:
                piece = _Piece(Path(scratch), header)
            if isinstance(row, str):
                piece.handle.write(row)
            else:
                piece.writer.writerow(row)
            piece.rows += 1
            if piece.handle.tell() >= max_bytes - _ROW_MARGIN:
                yield _put(piece, storage, storage.join(folder, part_name(partition, number, suffix)))
                piece, number = None, number + 1
        if piece is not None:
            yield _put(piece, storage, storage.join(folder, part_name(partition, number, suffix)))


def _put(piece: _Piece, storage: Storage, location: str) -> PartWritten:
    piece.handle.close()
    storage.put_file(piece.path, location)
    piece.path.unlink()
    return location, piece.rows


def header_only(storage: Storage, folder: str, header: Sequence[str]) -> PartWritten:
    """An empty dataset is still a file with its header, as the single-process export writes it."""
    with tempfile.TemporaryDirectory(prefix="pue-parts-") as scratch:
        piece = _Piece(Path(scratch), header)
        return _put(piece, storage, storage.join(folder, part_name(0, 0, ".csv")))
