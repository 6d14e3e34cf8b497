"""Lambda entry point for a Kinesis event source mapping with ``ReportBatchItemFailures``.

Thin on purpose: parse, call the pipeline, return the typed partial-batch response. The pipeline is
built on the first invocation and reused while the container lives (clients, pools, caches).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from consumers.stream.pipeline import BatchResult, Pipeline
from schemas.batch import PartialBatchResponse

log = logging.getLogger("pue.kinesis")
_pipeline: Pipeline | None = None
_lock = threading.Lock()


def _cold_start() -> Pipeline:
    global _pipeline
    with _lock:
        if _pipeline is None:
            import os

            from consumers.bootstrap.stream import build_pipeline
            from consumers.config.logs import configure_logging
            from consumers.config.secrets import resolve_secrets
            from consumers.config.settings import Settings

            # ConfigError here fails the init loudly, naming every problem. Secrets named by
            # <NAME>_SECRET_ARN are fetched once per container, before anything reads them.
            settings = Settings.from_env(resolve_secrets(os.environ))
            configure_logging(settings.log_level)
            _pipeline, _ = build_pipeline(settings)
        return _pipeline


def handle_event(
    event: Mapping[str, Any], pipeline: Pipeline
) -> tuple[PartialBatchResponse, BatchResult | None]:
    """Run one Lambda event through ``pipeline``. Never raises: a bug reports every record for retry."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        log.error("event has no Records list; nothing to do")
        return {"batchItemFailures": []}, None
    try:
        result = pipeline.handle(records)
    except Exception:
        # Unexpected: report every record so Lambda retries (and bisects) instead of losing the batch.
        log.exception("pipeline failed; reporting the whole batch for retry")
        sequence_numbers = dict.fromkeys(
            str(r.get("kinesis", {}).get("sequenceNumber")) for r in records if isinstance(r, Mapping)
        )
        return {"batchItemFailures": [{"itemIdentifier": s} for s in sequence_numbers]}, None
    failures = [{"itemIdentifier": s} for s in result.failed_sequence_numbers]
    return {"batchItemFailures": failures}, result  # type: ignore[typeddict-item]


def container_pipeline() -> Pipeline:
    """This container's pipeline, built from the environment on first use (also for the scheduled refresh
    sweep, which runs the same code with the same settings)."""
    return _cold_start()


def handler(event: Mapping[str, Any], context: object) -> PartialBatchResponse:
    response, _ = handle_event(event, _cold_start())
    return response
