"""Settings: defaults, and one error that names every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.config.settings import Settings
from schemas.errors import ConfigError


def test_local_defaults_need_nothing() -> None:
    s = Settings.from_env({})
    assert s.backend == "local" and s.state_dir == Path(".pue") and s.num_results == 25
    assert s.segment_api_host == "https://api.segment.io"
    assert not s.profile_api_enabled


def test_aws_backend_names_every_missing_setting_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"PUE_BACKEND": "aws"})
    text = str(caught.value)
    for name in ("PERSONALIZE_TRACKING_ID", "PERSONALIZE_CAMPAIGN_ARN", "PUE_DEAD_LETTER_QUEUE_URL"):
        assert name in text
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PUE_BACKEND": "gcp"}, "PUE_BACKEND"),
        ({"PERSONALIZE_NUM_RESULTS": "0"}, "PERSONALIZE_NUM_RESULTS"),
        ({"PERSONALIZE_NUM_RESULTS": "many"}, "PERSONALIZE_NUM_RESULTS"),
        ({"PERSONALIZE_CAMPAIGN_ARN": "campaign-1"}, "PERSONALIZE_CAMPAIGN_ARN"),
        ({"SEGMENT_API_HOST": "api.segment.io"}, "SEGMENT_API_HOST"),
        ({"SEGMENT_SPACE_ID": "spa_1"}, "SEGMENT_PROFILE_TOKEN"),
        ({"PUE_EVENT_MAP": "/nonexistent/map.json"}, "PUE_EVENT_MAP"),
        ({"PERSONALIZE_FILTER_VALUES": "[1]"}, "PERSONALIZE_FILTER_VALUES"),
        ({"PUE_MAX_WORKERS": "100000"}, "PUE_MAX_WORKERS"),
        ({"PUE_LOG_LEVEL": "LOUD"}, "PUE_LOG_LEVEL"),
        ({"PUE_REFRESH_MIN_INTERVAL_SECONDS": "-5"}, "PUE_REFRESH_MIN_INTERVAL_SECONDS"),
        ({"PUE_REFRESH_MIN_INTERVAL_SECONDS": "172800"}, "PUE_REFRESH_MIN_INTERVAL_SECONDS"),
        ({"PUE_REFRESH_ANONYMOUS": "sometimes"}, "PUE_REFRESH_ANONYMOUS"),
    ],
)
def test_each_malformed_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert any(named in problem for problem in caught.value.problems)


def test_complete_aws_settings_parse() -> None:
    s = Settings.from_env(
        {
            "PUE_BACKEND": "aws",
            "PERSONALIZE_TRACKING_ID": "tid",
            "PERSONALIZE_RECOMMENDER_ARN": "arn:aws:personalize:us-east-1:1:recommender/r",
            "PUE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
            "SEGMENT_SPACE_ID": "spa",
            "SEGMENT_PROFILE_TOKEN": "tok",
            "SEGMENT_API_HOST": "https://events.eu1.segmentapis.com/",
        }
    )
    assert s.backend == "aws" and s.profile_api_enabled
    assert s.segment_api_host == "https://events.eu1.segmentapis.com"


def test_a_refresh_interval_on_aws_needs_its_ledger_table() -> None:
    aws = {
        "PUE_BACKEND": "aws",
        "PERSONALIZE_TRACKING_ID": "tid",
        "PERSONALIZE_RECOMMENDER_ARN": "arn:aws:personalize:us-east-1:1:recommender/r",
        "PUE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq",
        "PUE_REFRESH_MIN_INTERVAL_SECONDS": "300",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(aws)
    assert caught.value.problems == (
        "PUE_REFRESH_LEDGER_TABLE is required with PUE_REFRESH_MIN_INTERVAL_SECONDS and PUE_BACKEND=aws",
    )
    s = Settings.from_env({**aws, "PUE_REFRESH_LEDGER_TABLE": "pue-refreshes"})
    assert s.refresh_min_interval_seconds == 300 and s.refresh_ledger_table == "pue-refreshes"


def test_anonymous_refreshes_are_off_unless_asked_for_and_read_by_the_local_backend_too() -> None:
    from consumers.config.engagement_settings import EngagementSettings

    assert Settings.from_env({}).refresh_anonymous is False
    assert Settings.from_env({"PUE_REFRESH_ANONYMOUS": "true"}).refresh_anonymous is True
    # Read locally too, so that the local backend can say it has no sink for the lists (not ignore it).
    assert Settings.local_from_env({"PUE_REFRESH_ANONYMOUS": "on"}).refresh_anonymous is True
    assert EngagementSettings.from_env({}).customer_profiles_anonymous_key == "pue_anonymous_id"
    with pytest.raises(ConfigError) as caught:
        EngagementSettings.from_env({"PUE_CUSTOMER_PROFILES_ANONYMOUS_KEY": "anonymous id"})
    assert "PUE_CUSTOMER_PROFILES_ANONYMOUS_KEY" in caught.value.problems[0]
