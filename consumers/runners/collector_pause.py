"""Replay batches without the cycle collector: ``collector_paused()``, from a batch's arrival to its end.

A replay batch is some 100,000 objects (entries, interactions, PutEvents chunks, store rows, the model's
per-batch state) that all live until the batch ends, and reference counting frees them then: they form no
cycle. CPython's cycle collector, started by allocation counts, walks them anyway, several times a batch,
and a full collection every time the survivors grew by a quarter: on the 1M-record visitors archive it took
25 of the main process's 111 CPU seconds (``gc.callbacks``: 201 full collections of ~100,000 objects, 74 ms
each), a fifth of the replay's bottleneck. Paused for a batch, the collector runs as usual after it, when the
batch's objects are gone; a cycle made inside a batch (an exception's traceback) is still young then, and
the next collection finds it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic cycle collection inside; the collector's previous state after (nesting is harmless)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
