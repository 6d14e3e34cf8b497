"""Reliability 6, configuration: each missing or malformed setting stops the Lambda at cold start with one
``ConfigError`` that names it, before any record is touched; never a traceback from deep inside a call.

Every case goes through ``consumers.kinesis.handler`` itself, from the process environment, as Lambda runs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consumers.kinesis
from consumers.config.settings import Settings
from schemas.errors import ConfigError
from tests import factories
from tests.functional.reliability_support import SECRETS, find_leaks

_PREFIXES: Final = ("PUE_", "PERSONALIZE_", "SEGMENT_", "PINPOINT_", "AWS_")
CAMPAIGN: Final = "arn:aws:personalize:us-east-1:000000000000:campaign/c"
AWS: Final = {
    "PUE_BACKEND": "aws",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # never called: the cold start fails first
    "PERSONALIZE_TRACKING_ID": "tid",
    "PERSONALIZE_CAMPAIGN_ARN": CAMPAIGN,
    "PUE_DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:9/000000000000/dlq",
}
ABSENT: Final = ""  # a value meaning "leave the variable out"
SECRET_ARN: Final = "arn:aws:secretsmanager:us-east-1:000000000000:secret:pue"

# (environment on top of the base, the name the error must carry); the base is AWS when "PUE_BACKEND" is
# "aws" in the case, else the local backend.
CASES: Final[list[tuple[dict[str, str], str]]] = [
    ({"PUE_BACKEND": "gcp"}, "PUE_BACKEND"),
    ({**AWS, "PERSONALIZE_TRACKING_ID": ABSENT}, "PERSONALIZE_TRACKING_ID"),
    ({**AWS, "PERSONALIZE_CAMPAIGN_ARN": ABSENT}, "PERSONALIZE_CAMPAIGN_ARN"),
    ({**AWS, "PUE_DEAD_LETTER_QUEUE_URL": ABSENT}, "PUE_DEAD_LETTER_QUEUE_URL"),
    ({**AWS, "AWS_DEFAULT_REGION": ABSENT}, "AWS_REGION"),
    ({**AWS, "PERSONALIZE_CAMPAIGN_ARN": "campaign-1"}, "PERSONALIZE_CAMPAIGN_ARN"),
    (
        {**AWS, "PERSONALIZE_CAMPAIGN_ARN": ABSENT, "PERSONALIZE_RECOMMENDER_ARN": "r"},
        "PERSONALIZE_RECOMMENDER_ARN",
    ),
    ({**AWS, "PERSONALIZE_RECOMMENDER_ARN": CAMPAIGN}, "PERSONALIZE_RECOMMENDER_ARN"),
    ({"PERSONALIZE_FILTER_ARN": "filter-1"}, "PERSONALIZE_FILTER_ARN"),
    ({"PERSONALIZE_FILTER_VALUES": "{not json"}, "PERSONALIZE_FILTER_VALUES"),
    ({"PERSONALIZE_FILTER_VALUES": '{"CATEGORY": 1}'}, "PERSONALIZE_FILTER_VALUES"),
    ({"PERSONALIZE_NUM_RESULTS": "0"}, "PERSONALIZE_NUM_RESULTS"),
    ({"PERSONALIZE_NUM_RESULTS": "501"}, "PERSONALIZE_NUM_RESULTS"),
    ({"PERSONALIZE_NUM_RESULTS": "2.5"}, "PERSONALIZE_NUM_RESULTS"),
    ({"SEGMENT_API_HOST": "api.segment.io"}, "SEGMENT_API_HOST"),
    ({"SEGMENT_PROFILE_API_HOST": "ftp://profiles"}, "SEGMENT_PROFILE_API_HOST"),
    ({"SEGMENT_SPACE_ID": "spa_1"}, "SEGMENT_PROFILE_TOKEN"),
    ({"SEGMENT_PROFILE_TOKEN": SECRETS["SEGMENT_PROFILE_TOKEN"]}, "SEGMENT_SPACE_ID"),
    ({"PUE_MAX_WORKERS": "0"}, "PUE_MAX_WORKERS"),
    ({"PUE_MAX_WORKERS": "sixteen"}, "PUE_MAX_WORKERS"),
    ({"PUE_LOG_LEVEL": "LOUD"}, "PUE_LOG_LEVEL"),
    ({"PUE_EVENT_MAP": "/nonexistent/map.json"}, "PUE_EVENT_MAP"),
    ({"PUE_EVENT_MAP": "<invalid json>"}, "PUE_EVENT_MAP"),
    ({"PUE_EVENT_MAP": '{"events": {"Product Viewed": {"purchase": "yes"}}}'}, "PUE_EVENT_MAP"),
    (
        {"SEGMENT_WRITE_KEY": SECRETS["SEGMENT_WRITE_KEY"], "SEGMENT_WRITE_KEY_SECRET_ARN": SECRET_ARN},
        "SEGMENT_WRITE_KEY",
    ),
    ({"PUE_MESSAGE_CHANNEL": "PIGEON"}, "PUE_MESSAGE_CHANNEL"),
]


@pytest.fixture
def cold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh container: no pue setting in the environment, no pipeline built yet."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PUE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(consumers.kinesis, "_pipeline", None)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    pipeline = consumers.kinesis._pipeline
    if pipeline is not None:
        pipeline.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _apply(env: dict[str, str], directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        if name == "PUE_EVENT_MAP" and not value.startswith("/"):
            path = directory / "event_map.json"
            path.write_text(value, encoding="utf-8")
            value = str(path)
        if value != ABSENT:
            monkeypatch.setenv(name, value)


def _cold_start_error() -> ConfigError:
    event = factories.kinesis_event(
        [factories.segment_track("Product Viewed", properties={"product_id": "p"})]
    )
    with pytest.raises(ConfigError) as raised:
        consumers.kinesis.handler(event, None)
    assert consumers.kinesis._pipeline is None  # nothing was built: no record was touched
    return raised.value


@pytest.mark.parametrize(("env", "named"), CASES, ids=[f"{n}-{i}" for i, (_, n) in enumerate(CASES)])
def test_each_bad_setting_is_one_clear_error_at_cold_start(
    cold: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    _apply(env, cold, monkeypatch)
    error = _cold_start_error()
    assert len(error.problems) == 1, error.problems
    assert named in error.problems[0]
    assert "Traceback" not in str(error) and find_leaks([("error", str(error))]) == []


def test_the_good_settings_do_start(cold: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases above fail for the setting they break, not because the base itself is broken."""
    _apply(AWS, cold, monkeypatch)
    event = factories.kinesis_event([factories.segment_identify("u1")])  # filtered: no call is made
    assert consumers.kinesis.handler(event, None) == {"batchItemFailures": []}


def test_several_bad_settings_are_named_together(cold: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _apply({"PUE_MAX_WORKERS": "0", "PUE_LOG_LEVEL": "LOUD", "SEGMENT_API_HOST": "x"}, cold, monkeypatch)
    error = _cold_start_error()
    assert len(error.problems) == 3


NUMERIC: Final = ("PERSONALIZE_NUM_RESULTS", "PUE_MAX_WORKERS")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from([*NUMERIC, "PUE_BACKEND", "PUE_LOG_LEVEL", "PERSONALIZE_FILTER_VALUES"]),
    value=st.text(),
)
def test_any_value_parses_or_is_named(name: str, value: str) -> None:
    """Whatever a setting holds: valid settings, or a ConfigError naming it; nothing else."""
    try:
        Settings.from_env({name: value.replace("\x00", "")})
    except ConfigError as error:
        assert len(error.problems) == 1 and name in error.problems[0]
