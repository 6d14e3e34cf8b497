"""One Lambda Kinesis event through the pipeline, answered as a partial-batch response.

The Kinesis entry point (``consumers.kinesis``) and everything that feeds the path without Lambda (``pue
replay``, ``pue consume``, the tests) call this same function, so a local run answers as Lambda would.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from consumers.stream.pipeline import BatchResult, Pipeline
from schemas.batch import PartialBatchResponse

log = logging.getLogger("pue.kinesis")


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
