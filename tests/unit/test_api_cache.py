"""The recommendation cache serves a value only while the data it came from is unchanged."""

from __future__ import annotations

import threading
from collections.abc import Callable

from consumers.web.cache import VersionedCache


def constant(value: int) -> Callable[[], int]:
    return lambda: value


def test_hit_until_the_external_version_changes() -> None:
    version = [0]
    computed: list[str] = []
    cache: VersionedCache[str, str] = VersionedCache(
        lambda: version[0], max_entries=10, max_bytes=1 << 20, size_of=lambda k, v: 1
    )

    def compute() -> str:
        computed.append("x")
        return f"v{version[0]}"

    assert cache.get_or_compute("k", compute) == "v0"
    assert cache.get_or_compute("k", compute) == "v0"
    version[0] = 1
    assert cache.get_or_compute("k", compute) == "v1"
    assert len(computed) == 2 and (cache.hits, cache.misses) == (1, 2)


def test_a_computation_overlapping_an_invalidation_is_not_kept() -> None:
    cache: VersionedCache[str, str] = VersionedCache(
        lambda: 0, max_entries=10, max_bytes=1 << 20, size_of=lambda k, v: 1
    )

    def compute_while_someone_writes() -> str:
        cache.invalidate()
        return "read before the write"

    cache.get_or_compute("k", compute_while_someone_writes)
    assert len(cache) == 0
    assert cache.get_or_compute("k", lambda: "fresh") == "fresh"


def test_oldest_entries_go_first() -> None:
    cache: VersionedCache[int, int] = VersionedCache(
        lambda: 0, max_entries=3, max_bytes=1 << 20, size_of=lambda k, v: 1
    )
    for key in range(5):
        cache.get_or_compute(key, constant(key))
    assert len(cache) == 3
    assert cache.get_or_compute(0, lambda: -1) == -1  # evicted, recomputed
    assert cache.get_or_compute(4, lambda: -1) == 4  # still there


def test_concurrent_readers_all_get_a_value() -> None:
    cache: VersionedCache[int, int] = VersionedCache(
        lambda: 0, max_entries=50, max_bytes=1 << 20, size_of=lambda k, v: 1
    )
    results: list[int] = []
    lock = threading.Lock()

    def reader(n: int) -> None:
        for i in range(200):
            value = cache.get_or_compute(i % 60, constant(i % 60))
            with lock:
                results.append(value - i % 60)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800 and set(results) == {0}
