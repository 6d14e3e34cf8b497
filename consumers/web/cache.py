"""A cache of recommendation lists that is exact: an entry is served only while the data it was computed
from is unchanged.

The local recommender ranks from SQLite in about a millisecond and a half; an unchanged user asking again
gets the same ranking, so the API keeps it. Two things say the data changed:

- ``external_version()``: for the local store, SQLite's ``PRAGMA data_version``, which changes whenever
  another connection (``pue replay`` in another process, say) commits to the file;
- ``invalidate()``: called by the API after every event it tracks itself (its own connection's commits do
  not change ``data_version``). It runs before the POST answers, so a GET after it never sees a list from
  before the event.

A computation that overlaps an invalidation is not stored: it may have read the old data.

Bounded in entries and in bytes (issue 23): a count alone let 10,000 lists of 500 items with 256-character
ids take 1.4 GB. ``size_of`` estimates what an entry holds (the caller knows its values' shape); the
oldest entries are dropped until the total fits ``max_bytes``, and a value larger than the whole budget is
served but not kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class VersionedCache(Generic[K, V]):
    """Thread-safe; at most ``max_entries`` entries and ``max_bytes`` (by ``size_of``), the oldest dropped
    first."""

    def __init__(
        self,
        external_version: Callable[[], Hashable],
        max_entries: int,
        *,
        max_bytes: int,
        size_of: Callable[[K, V], int],
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self._external_version = external_version
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._size_of = size_of
        self.bytes = 0  # the estimated size of what is kept
        self._generation = 0
        self._entries: dict[K, tuple[tuple[Hashable, int], V, int]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            generation = self._generation
        version = (self._external_version(), generation)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self.hits += 1
                return entry[1]
            self.misses += 1
        value = compute()
        size = self._size_of(key, value)
        with self._lock:
            if self._generation == generation:
                self._drop(key)
                if size <= self._max_bytes:
                    while self._entries and (
                        len(self._entries) >= self._max_entries or self.bytes + size > self._max_bytes
                    ):
                        self._drop(next(iter(self._entries)))
                    self._entries[key] = (version, value, size)
                    self.bytes += size
        return value

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[2]

    def invalidate(self) -> None:
        """Forget everything: the data changed under this process's own hands."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self.bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
