"""API settings: every problem named at once, keys registered for redaction before anything can log them."""

from __future__ import annotations

import pytest

from consumers.config.api_settings import ApiSettings, load_settings
from consumers.config.logs import redact
from schemas.errors import ConfigError

ARN = "arn:aws:personalize:us-east-1:123456789012:filter/instock"


def test_full_configuration() -> None:
    settings = ApiSettings.from_env(
        {
            "PUE_API_KEY": " key-one-0123456789abcdef , key-two-0123456789abcdef ,",
            "PUE_CORS_ORIGINS": "https://shop.example, http://localhost:3000/",
            "PUE_FILTERS": f'{{"instock": "{ARN}"}}',
            "PERSONALIZE_RELATED_ITEMS_CAMPAIGN_ARN": "arn:aws:personalize:us-east-1:1:campaign/sims",
            "PUE_API_CACHE_ENTRIES": "0",
        }
    )
    assert settings.api_keys == ("key-one-0123456789abcdef", "key-two-0123456789abcdef")
    assert settings.cors_origins == {"https://shop.example", "http://localhost:3000"}
    assert dict(settings.filters) == {"instock": ARN}
    assert settings.related_items_campaign_arn is not None and settings.cache_entries == 0


def test_every_problem_is_named_and_no_key_is_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        ApiSettings.from_env(
            {
                "PUE_API_KEY": "short-secret",
                "PUE_CORS_ORIGINS": "shop.example",
                "PUE_FILTERS": '{"instock": "not-an-arn", "bad name": "arn:x"}',
                "PERSONALIZE_RELATED_ITEMS_CAMPAIGN_ARN": "sims",
                "PUE_API_CACHE_ENTRIES": "-1",
            }
        )
    problems = caught.value.problems
    assert len(problems) == 6
    assert "key #1 is shorter" in problems[0]
    assert not any("short-secret" in p for p in problems)
    assert redact("key=short-secret") == "key=[redacted]"


def test_a_key_is_required_in_lambda_not_in_local_serve() -> None:
    with pytest.raises(ConfigError, match="PUE_API_KEY"):
        ApiSettings.from_env({})
    assert ApiSettings.from_env({}, require_key=False).api_keys == ()


def test_load_settings_reports_both_halves_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"PUE_BACKEND": "aws"}, require_key=True)
    text = "\n".join(caught.value.problems)
    assert "PERSONALIZE_TRACKING_ID" in text and "PUE_API_KEY" in text
