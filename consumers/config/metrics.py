"""Per-batch metrics as CloudWatch embedded metric format (EMF): the batch's log line is the metric document.

CloudWatch Logs extracts metrics from a log event that is a JSON object with an ``_aws`` member naming them
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
no PutMetricData call, no extra latency, no extra permission. The "batch" line already holds the counts at
its root, so it only gains ``_aws`` (namespace, dimension names, metric names and units, a Timestamp in
milliseconds), the dimension values and ``duration`` (milliseconds).

Settings (``MetricsSettings.parse``): ``PUE_METRICS`` (``on``/``off``, default on), ``PUE_METRICS_NAMESPACE``
(default ``pue``), ``PUE_METRICS_DIMENSIONS`` (a JSON object of strings; default ``{"function": <the Lambda
function's name>}``, or ``{"function": "pue"}`` outside Lambda; ``{}`` for metrics without dimensions).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from consumers.config.env import EnvReader
from schemas.batch import EXTRA_COUNT_FIELDS, BatchCounts

log = logging.getLogger("pue.pipeline")

COUNT_METRICS: Final = EXTRA_COUNT_FIELDS
DURATION_METRIC: Final = "duration"
DEFAULT_NAMESPACE: Final = "pue"
DEFAULT_DIMENSION: Final = "function"
# CloudWatch limits (PutMetricData / EMF spec): namespace 1-255 characters of this set and not "AWS/...";
# at most 30 dimensions per set; names 1-255 characters, values 1-1024.
NAMESPACE_PATTERN: Final = re.compile(r"[0-9A-Za-z.\-_/#: ]{1,255}")
MAX_DIMENSIONS: Final = 30
MAX_DIMENSION_NAME: Final = 255
MAX_DIMENSION_VALUE: Final = 1024
# Root members the batch line already uses: a dimension under one of these names would overwrite it.
RESERVED_NAMES: Final = frozenset(
    {*COUNT_METRICS, DURATION_METRIC, "_aws", "level", "logger", "message", "seconds", "exception"}
    | {"filter_reasons", "dead_letter_reasons", "failure_reasons", "anonymous_skips"}
)


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True
    namespace: str = DEFAULT_NAMESPACE
    dimensions: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_DIMENSION: "pue"})

    @classmethod
    def parse(cls, reader: EnvReader) -> MetricsSettings:
        """Read the settings through ``reader`` (``Settings``' own), noting every problem found on it."""
        switch = (reader.text("PUE_METRICS") or "on").lower()
        if switch not in {"on", "off"}:
            reader.problems.append(f"PUE_METRICS must be 'on' or 'off', got {switch!r}")
        namespace = reader.text("PUE_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
        if not NAMESPACE_PATTERN.fullmatch(namespace) or namespace.startswith("AWS/"):
            reader.problems.append(
                "PUE_METRICS_NAMESPACE must be 1-255 letters, digits or . - _ / # : and space, "
                f"not starting with AWS/, got {namespace!r}"
            )
        function = reader.text("AWS_LAMBDA_FUNCTION_NAME") or "pue"
        dimensions = _dimensions(reader, function)
        return cls(enabled=switch != "off", namespace=namespace, dimensions=dimensions)


def _dimensions(reader: EnvReader, function: str) -> dict[str, str]:
    name = "PUE_METRICS_DIMENSIONS"
    if reader.text(name) is None:
        return {DEFAULT_DIMENSION: function}
    problems = reader.problems
    before = len(problems)
    value = reader.json_object_of_strings(name, '{"stage": "prod"}')
    if len(problems) > before:
        return {}
    if len(value) > MAX_DIMENSIONS:
        problems.append(f"{name} holds {len(value)} dimensions, CloudWatch takes at most {MAX_DIMENSIONS}")
    for key, text in value.items():
        if key in RESERVED_NAMES or key.startswith(":") or not 1 <= len(key) <= MAX_DIMENSION_NAME:
            problems.append(f"{name}: {key!r} cannot name a dimension (empty, too long or already a field)")
        if not 1 <= len(text) <= MAX_DIMENSION_VALUE or not text.strip():
            problems.append(f"{name}: the value of {key!r} must be 1-{MAX_DIMENSION_VALUE} characters")
    return dict(value)


def emf_members(
    counts: BatchCounts, seconds: float, settings: MetricsSettings, now_ms: int
) -> dict[str, Any]:
    """The members the batch line gains to be an EMF document (the counts themselves are already there)."""
    metrics = [{"Name": name, "Unit": "Count"} for name in COUNT_METRICS]
    metrics.append({"Name": DURATION_METRIC, "Unit": "Milliseconds"})
    directive = {
        "Namespace": settings.namespace,
        "Dimensions": [list(settings.dimensions)],
        "Metrics": metrics,
    }
    members: dict[str, Any] = {"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [directive]}}
    members.update(settings.dimensions)
    members.update({name: getattr(counts, name) for name in COUNT_METRICS})
    members[DURATION_METRIC] = round(seconds * 1000, 3)
    return members


def log_batch(counts: BatchCounts, seconds: float, settings: MetricsSettings | None) -> None:
    """The one "batch" line: counts and reasons, and with metrics on, the EMF members."""
    fields: dict[str, object] = dict(counts.summary())
    fields.update(
        seconds=round(seconds, 4),
        filter_reasons=counts.filter_reasons,
        dead_letter_reasons=counts.dead_letter_reasons,
        failure_reasons=counts.failure_reasons,
        unmapped_events=counts.unmapped_events,  # a bounded sample (schemas.batch.SAMPLE_SIZE)
    )
    if counts.anonymous_skips:  # PUE_REFRESH_ANONYMOUS: the visitors' lists each sink could not hold
        fields["anonymous_skips"] = counts.anonymous_skips
    if settings is not None and settings.enabled:
        fields.update(emf_members(counts, seconds, settings, int(time.time() * 1000)))
    log.info("batch", extra={"fields": fields})
