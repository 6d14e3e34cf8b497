"""Checkpoints of ``pue consume``: for each shard, the last fully handled sequence number and whether the
shard is finished (closed by a reshard and read to its end).

One small JSON file per stream under the state dir. Every change is written atomically (a temporary file in
the same directory, flushed to disk, then ``os.replace``), so a crash leaves the old file or the new one,
never a torn one. A checkpoint moves only after its batch was fully handled and only forwards: a crash in
between means the batch is read again (at-least-once), which the pipeline's idempotence absorbs.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from schemas.errors import ConfigError

CHECKPOINT_DIR: Final = "kinesis"
FORMAT_VERSION: Final = 1
# Kinesis stream names: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_CreateStream.html
STREAM_NAME_PATTERN: Final = re.compile(r"[a-zA-Z0-9_.-]{1,128}")


@dataclass(frozen=True, slots=True)
class ShardCheckpoint:
    sequence_number: str | None = None  # the last record whose whole batch was handled
    finished: bool = False  # closed and read to its end: its children may start


class CheckpointStore:
    """The checkpoints of one stream, kept in memory and saved on every change."""

    def __init__(self, path: Path, stream: str) -> None:
        self.path = path
        self.stream = stream
        self._lock = threading.Lock()
        self._shards: dict[str, ShardCheckpoint] = self._load()

    @classmethod
    def in_state_dir(cls, state_dir: Path, stream: str) -> CheckpointStore:
        if not STREAM_NAME_PATTERN.fullmatch(stream):
            raise ConfigError([f"{stream!r} is not a Kinesis stream name (letters, digits, _ . -; 1-128)"])
        return cls(state_dir / CHECKPOINT_DIR / f"{stream}.json", stream)

    def get(self, shard_id: str) -> ShardCheckpoint:
        with self._lock:
            return self._shards.get(shard_id, ShardCheckpoint())

    def snapshot(self) -> dict[str, ShardCheckpoint]:
        with self._lock:
            return dict(self._shards)

    def advance(self, shard_id: str, sequence_number: str) -> None:
        """Record ``sequence_number`` as handled; a number at or behind the current one changes nothing."""
        with self._lock:
            current = self._shards.get(shard_id, ShardCheckpoint())
            if current.sequence_number is not None and int(sequence_number) <= int(current.sequence_number):
                return
            self._shards[shard_id] = ShardCheckpoint(sequence_number, current.finished)
            self._save()

    def finish(self, shard_id: str) -> None:
        with self._lock:
            current = self._shards.get(shard_id, ShardCheckpoint())
            if current.finished:
                return
            self._shards[shard_id] = ShardCheckpoint(current.sequence_number, True)
            self._save()

    def _load(self) -> dict[str, ShardCheckpoint]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            document: Any = json.loads(text)
            if document.get("stream") != self.stream or document.get("version") != FORMAT_VERSION:
                raise ValueError("written for another stream or by another version")
            shards = {}
            for shard_id, entry in document["shards"].items():
                sequence = entry.get("sequenceNumber")
                if sequence is not None and not str(sequence).isdigit():
                    raise ValueError(f"{shard_id} has a sequence number that is not a number")
                shards[str(shard_id)] = ShardCheckpoint(
                    None if sequence is None else str(sequence), bool(entry.get("finished", False))
                )
            return shards
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Guessing a position would lose or replay records silently: stop and say what to do.
            raise ConfigError(
                [f"checkpoint file {self.path} is unreadable ({exc}); move it away to start over"]
            ) from exc

    def _save(self) -> None:
        document = {
            "version": FORMAT_VERSION,
            "stream": self.stream,
            "shards": {
                shard_id: {"sequenceNumber": cp.sequence_number, "finished": cp.finished}
                for shard_id, cp in sorted(self._shards.items())
            },
        }
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # mkstemp's file is 0600
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
