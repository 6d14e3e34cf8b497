"""Where a Spark export reads its archive and writes its datasets: a local folder, or S3 (an adapter).

The executors open archive files themselves (one task a file) through ``file_lines``, the same reader
the single-process export uses, so a file that vanished between listing and reading is one dead-lettered
entry, not a failed job. Both storages are pickled to the executors; the S3 one builds its client there.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Protocol

from consumers.onboarding.export.reader import discover


class Storage(Protocol):
    """Files by location (a path, or ``s3://bucket/key``): list, read, write whole, delete a folder."""

    def list_files(self, locations: list[str]) -> tuple[list[str], int]:
        """Every archive file under ``locations`` in path order, and how many others were skipped."""
        ...

    def open(self, location: str) -> io.BufferedReader:
        """For reading; ``FileNotFoundError`` when it is gone, ``InputError``/``PueError`` otherwise."""
        ...

    def put_file(self, local: Path, location: str) -> None:
        """Copy a finished local file to ``location``, replacing what was there (task retries rewrite)."""
        ...

    def put_text(self, location: str, text: str) -> None: ...

    def delete_tree(self, location: str) -> None:
        """Remove the file or folder at ``location`` (a re-run overwrites, never mixes old parts in)."""
        ...

    def join(self, location: str, *names: str) -> str: ...


class LocalStorage:
    """Local paths; on a cluster, only a folder every executor shares (NFS) would work: use S3 there."""

    def list_files(self, locations: list[str]) -> tuple[list[str], int]:
        inputs = discover(Path(location) for location in locations)
        return [str(path) for path in inputs.files], len(inputs.skipped)

    def open(self, location: str) -> io.BufferedReader:
        return Path(location).open("rb")

    def put_file(self, local: Path, location: str) -> None:
        target = Path(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(local, partial)
        os.replace(partial, target)  # whole or not at all, as the single-process CsvFile

    def put_text(self, location: str, text: str) -> None:
        target = Path(location)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)

    def delete_tree(self, location: str) -> None:
        path = Path(location)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def join(self, location: str, *names: str) -> str:
        return str(Path(location, *names))


def is_s3(location: str) -> bool:
    return location.startswith(("s3://", "s3a://"))


class ByScheme:
    """Local paths to ``LocalStorage``, ``s3://`` (and ``s3a://``) to the S3 adapter (built by bootstrap)."""

    def __init__(self, s3: Storage | None = None) -> None:
        self._local = LocalStorage()
        self._s3 = s3

    def _for(self, location: str) -> Storage:
        if not is_s3(location):
            return self._local
        if self._s3 is None:
            raise ValueError(f"{location}: no S3 storage configured")
        return self._s3

    def list_files(self, locations: list[str]) -> tuple[list[str], int]:
        files: list[str] = []
        skipped = 0
        for location in locations:
            found, others = self._for(location).list_files([location])
            files.extend(found)
            skipped += others
        return files, skipped

    def open(self, location: str) -> io.BufferedReader:
        return self._for(location).open(location)

    def put_file(self, local: Path, location: str) -> None:
        self._for(location).put_file(local, location)

    def put_text(self, location: str, text: str) -> None:
        self._for(location).put_text(location, text)

    def delete_tree(self, location: str) -> None:
        self._for(location).delete_tree(location)

    def join(self, location: str, *names: str) -> str:
        return self._for(location).join(location, *names)
