"""Local twins of the segment import: endpoints from the store, segments written as Pinpoint import CSVs.

``DirectorySegmentWriter`` only writes the files (``pue segment-import --dry-run``); ``LocalSegmentImporter``
also records each segment in the store, as Pinpoint would hold an imported static segment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from destinations.local import owner_only
from destinations.local.sinks import default_endpoint_id
from destinations.local.store import LocalStore
from destinations.segment_csv import segment_csv
from schemas.errors import PermanentError
from schemas.limits import PINPOINT_IMPORT_JOB_MAX_BYTES
from schemas.segment import ImportedSegment

WRITTEN: Final = "WRITTEN"

SEGMENTS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS engagement_segments (
    name TEXT PRIMARY KEY,
    location TEXT NOT NULL,                  -- the CSV file
    endpoints INTEGER NOT NULL,
    created_ts REAL NOT NULL
) WITHOUT ROWID;
"""


class LocalEndpointDirectory:
    """A user's endpoints as the local Pinpoint sink keeps them; a user with tracked events but no stored
    endpoint has the one endpoint every local user has (``<user id>-default``)."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store

    def endpoints_for(self, user_id: str) -> list[str]:
        stored = list(self._store.endpoint_attributes_for(user_id))
        if stored:
            return stored
        return [default_endpoint_id(user_id)] if self._store.has_interactions(user_id) else []


class DirectorySegmentWriter:
    """Writes ``<directory>/<segment name>.csv``; an existing file is never overwritten."""

    def __init__(self, directory: Path, *, max_bytes: int = PINPOINT_IMPORT_JOB_MAX_BYTES) -> None:
        self._directory = directory
        self._max_bytes = max_bytes

    def import_segment(self, name: str, endpoint_ids: Sequence[str]) -> ImportedSegment:
        body = segment_csv(endpoint_ids, self._max_bytes)
        owner_only.private_directory(self._directory)
        path = self._directory / f"{name}.csv"
        try:
            with os.fdopen(owner_only.create_private_file(path), "wb") as handle:  # user ids: 0600
                handle.write(body)
        except FileExistsError:
            raise PermanentError(
                f"{path} already exists; segment names are unique per run, so this is another run's file",
                service="segment-import",
                code="SegmentExists",
            ) from None
        return ImportedSegment(name=name, location=str(path), status=WRITTEN)

    def refresh(self, segment: ImportedSegment) -> ImportedSegment:
        return segment


class LocalSegmentImporter:
    """Writes the CSV under the state dir and records the segment in the store."""

    def __init__(
        self,
        store: LocalStore,
        directory: Path,
        *,
        max_bytes: int = PINPOINT_IMPORT_JOB_MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        store.ensure_schema(SEGMENTS_SCHEMA)
        self._store = store
        self._writer = DirectorySegmentWriter(directory, max_bytes=max_bytes)
        self._clock = clock

    def import_segment(self, name: str, endpoint_ids: Sequence[str]) -> ImportedSegment:
        segment = self._writer.import_segment(name, endpoint_ids)
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO engagement_segments (name, location, endpoints, created_ts) VALUES (?, ?, ?, ?)",
                (name, segment.location, len(endpoint_ids), self._clock()),
            )
        return segment

    def refresh(self, segment: ImportedSegment) -> ImportedSegment:
        return segment


def local_segments(store: LocalStore) -> list[dict[str, object]]:
    """Every segment imported locally, oldest first."""
    store.ensure_schema(SEGMENTS_SCHEMA)
    with store.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT name, location, endpoints FROM engagement_segments ORDER BY created_ts, name"
        ).fetchall()
    return [{"name": row[0], "location": row[1], "endpoints": row[2]} for row in rows]
