"""Lambda entry point for a Kinesis event source mapping with ``ReportBatchItemFailures``.

Thin on purpose: build the pipeline on the first invocation (reused while the container lives: clients,
pools, caches), hand each event to ``consumers.stream.lambda_batch.handle_event``, return its typed
partial-batch response.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from schemas.batch import PartialBatchResponse

_pipeline: Pipeline | None = None
_lock = threading.Lock()


def _cold_start() -> Pipeline:
    global _pipeline
    with _lock:
        if _pipeline is None:
            from consumers.bootstrap.stream import pipeline_from_environment

            _pipeline = pipeline_from_environment()
        return _pipeline


def handler(event: Mapping[str, Any], context: object) -> PartialBatchResponse:
    response, _ = handle_event(event, _cold_start())
    return response
