"""The batch log line is a valid CloudWatch embedded metric format document (EMF specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
checked with a JSON Schema written from the specification's MUSTs plus the cross-member rules the schema
cannot express (every dimension and metric named is a root member of the right type)."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any, Final

import jsonschema
import pytest

from consumers.config.logs import configure_logging
from consumers.config.metrics import COUNT_METRICS, MetricsSettings
from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from schemas.errors import ConfigError, PermanentError
from tests import factories
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker

UNITS: Final = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip
EMF_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "additionalProperties": False,
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check_emf(document: dict[str, Any]) -> None:
    jsonschema.validate(document, EMF_SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                assert isinstance(document.get(name), str), f"dimension {name} is not a string member"
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            assert isinstance(value, int | float) and not isinstance(value, bool), metric["Name"]


def batch_line(pipeline: Pipeline, messages: list[Any]) -> dict[str, Any]:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("INFO", stream=stream)
    try:
        pipeline.handle(factories.kinesis_event(messages)["Records"])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return next(line for line in lines if line["message"] == "batch")


def pipeline_with(metrics: MetricsSettings | None, **ports: Any) -> Pipeline:
    return Pipeline(
        tracker=ports.get("tracker", FakeTracker()),
        recommender=ports.get("recommender", FakeRecommender()),
        sinks=ports.get("sinks", [FakeSink()]),
        dead_letters=FakeDeadLetters(),
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=3),
        max_workers=2,
        metrics=metrics,
    )


VIEW = factories.segment_track("Product Viewed", user_id="u1", properties={"product_id": "p1"})


def test_the_batch_line_is_an_emf_document_with_every_count() -> None:
    settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "pue-consumer"}).metrics
    pipeline = pipeline_with(settings)
    before = int(time.time() * 1000)
    line = batch_line(pipeline, [VIEW, b"not json", factories.segment_identify("u2")])
    pipeline.close()
    check_emf(line)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "pue" and directive["Dimensions"] == [["function"]]
    assert line["function"] == "pue-consumer"
    assert {m["Name"] for m in directive["Metrics"]} == {*COUNT_METRICS, "duration"}
    assert before <= line["_aws"]["Timestamp"] <= int(time.time() * 1000)  # milliseconds, not seconds
    assert (line["records"], line["processed"], line["dead_lettered"], line["filtered"]) == (3, 1, 1, 1)
    assert line["users_refreshed"] == 1 and line["duration"] >= 0


def test_deployment_faults_and_rejected_refreshes_are_metrics() -> None:
    def deny(_: object) -> ConfigError:
        return ConfigError.at_run_time("PutEvents failed with HTTP 403", service="pe", code="AccessDenied")

    line = batch_line(pipeline_with(MetricsSettings(), tracker=FakeTracker(fault=deny)), [VIEW])
    check_emf(line)
    assert (line["failed"], line["deployment_faults"], line["dead_lettered"]) == (1, 1, 0)

    def refuse(_: object) -> PermanentError:
        return PermanentError("bad user id", service="pr", code="InvalidInputException")

    line = batch_line(pipeline_with(MetricsSettings(), recommender=FakeRecommender(fault=refuse)), [VIEW])
    check_emf(line)
    assert (line["processed"], line["refresh_rejected"], line["failed"]) == (1, 1, 0)


def test_namespace_and_dimensions_are_configurable_and_metrics_can_be_switched_off() -> None:
    env = {"PUE_METRICS_NAMESPACE": "shop/recs", "PUE_METRICS_DIMENSIONS": '{"stage": "prod", "shard": "a"}'}
    line = batch_line(pipeline_with(Settings.from_env(env).metrics), [VIEW])
    check_emf(line)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "shop/recs" and directive["Dimensions"] == [["stage", "shard"]]
    assert (line["stage"], line["shard"]) == ("prod", "a")
    off = batch_line(pipeline_with(Settings.from_env({"PUE_METRICS": "off"}).metrics), [VIEW])
    assert "_aws" not in off and off["records"] == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PUE_METRICS": "maybe"}, "PUE_METRICS"),
        ({"PUE_METRICS_NAMESPACE": "AWS/Lambda"}, "PUE_METRICS_NAMESPACE"),
        ({"PUE_METRICS_NAMESPACE": "bad!name"}, "PUE_METRICS_NAMESPACE"),
        ({"PUE_METRICS_DIMENSIONS": "[1]"}, "PUE_METRICS_DIMENSIONS"),
        ({"PUE_METRICS_DIMENSIONS": '{"records": "x"}'}, "PUE_METRICS_DIMENSIONS"),
        ({"PUE_METRICS_DIMENSIONS": '{"stage": ""}'}, "PUE_METRICS_DIMENSIONS"),
    ],
)
def test_bad_metric_settings_are_named_at_cold_start(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert len(raised.value.problems) == 1 and named in raised.value.problems[0]


def test_the_schema_check_can_fail() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check_emf({"_aws": {"Timestamp": "now", "CloudWatchMetrics": []}})
    with pytest.raises(AssertionError):
        check_emf(
            {
                "_aws": {
                    "Timestamp": 1,
                    "CloudWatchMetrics": [{"Namespace": "n", "Dimensions": [["d"]], "Metrics": []}],
                }
            }
        )
