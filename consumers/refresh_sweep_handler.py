"""Lambda entry point of the scheduled sweep that delivers the refreshes the refresh interval postponed.

Thin on purpose: the pipeline is built once per container (``consumers.bootstrap.stream``, as for the Kinesis
handler); sweep while
the invocation has time, log and return the counts. A ledger or setup fault raises: the invocation fails,
and the function's Errors metric shows it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

from consumers.stream.pipeline import Pipeline
from consumers.stream.refresh_sweep import SweepResult, sweep_until_done

_pipeline: Pipeline | None = None
_lock = threading.Lock()

# Stop taking more owed refreshes when less than this is left of the invocation (one sweep call's worth).
RESERVE_MILLISECONDS: Final = 10_000


def sweep_while_time_lasts(pipeline: Pipeline, context: object) -> SweepResult:
    """Sweep until nothing is due or less than ``RESERVE_MILLISECONDS`` of the invocation is left."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return sweep_until_done(pipeline)
    return sweep_until_done(pipeline, lambda: remaining() >= RESERVE_MILLISECONDS)


def _cold_start() -> Pipeline:
    global _pipeline
    with _lock:
        if _pipeline is None:
            from consumers.bootstrap.stream import pipeline_from_environment

            _pipeline = pipeline_from_environment()
        return _pipeline


def handler(event: Mapping[str, Any], context: object) -> dict[str, int]:
    return sweep_while_time_lasts(_cold_start(), context).summary()
