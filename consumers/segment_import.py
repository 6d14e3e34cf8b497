"""Lambda entry point for the S3 object-created event of a Personalize batch segment job's output
(``consumers.segment_import.handler``).

Thin on purpose: build the importer once per container, read each ``.out`` object, run it. What becomes a
segment is ``consumers.engagement.segment_import``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from consumers.bootstrap.hooks import build_segment_import
from consumers.engagement.segment_import import OUTPUT_SUFFIX, SegmentImport, log_report
from consumers.engagement.segment_queries import OutputError

log = logging.getLogger("pue.segment_import")


_runner: tuple[SegmentImport, Any] | None = None
_lock = threading.Lock()


def _cold_start() -> tuple[SegmentImport, Any]:
    global _runner
    with _lock:
        if _runner is None:
            from consumers.config.engagement_settings import EngagementSettings
            from consumers.config.logs import configure_logging
            from consumers.config.settings import Settings

            settings = Settings.from_env()  # ConfigError here fails the init loudly, naming every problem
            configure_logging(settings.log_level)
            _runner = build_segment_import(settings, EngagementSettings.from_env(settings=settings))
        return _runner


def handle_event(event: Mapping[str, Any], runner: SegmentImport, s3: Any) -> list[dict[str, Any]]:
    """Import every ``.out`` object of an S3 event. Raises only before anything was imported (reading the
    object failed): Lambda's retry then repeats nothing."""
    from destinations.aws.errors import translated

    summaries = []
    for record in event.get("Records", []) if isinstance(event, Mapping) else []:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        source = f"s3://{bucket}/{key}"
        if not key.endswith(OUTPUT_SUFFIX):
            log.info("not a batch segment output; skipped", extra={"fields": {"source": source}})
            continue
        with translated("s3"):
            lines = list(s3.get_object(Bucket=bucket, Key=key)["Body"].iter_lines())
        try:
            report = runner.run(lines, source=source)
        except OutputError as error:
            log.error(
                "segment import: unusable output", extra={"fields": {"source": source, "reason": str(error)}}
            )
            summaries.append({"source": source, "ok": False, "error": str(error)})
            continue
        log_report(report)
        summaries.append(report.summary())
    return summaries


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    runner, s3 = _cold_start()
    return {"reports": handle_event(event, runner, s3)}
