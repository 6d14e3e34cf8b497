"""EnvReader, the base of every settings parser: each problem noted, one ConfigError naming them all."""

from __future__ import annotations

import pytest

from consumers.config import api_settings, engagement_settings, settings
from consumers.config.env import EnvReader
from schemas.errors import ConfigError


def test_every_problem_is_noted_and_raised_together_with_defaults_meanwhile() -> None:
    reader = EnvReader({"N": "8.0", "F": "maybe", "U": "ftp://x", "A": "role", "W": "1.5", "J": "[1]"})
    assert reader.integer("N", 3, 1, 10) == 3
    assert reader.flag("F") is False
    assert reader.url("U", "https://default") == "ftp://x"
    assert reader.arn("A", "arn:aws:iam::...") == "role"
    assert reader.whole("W", 0, 0, 5) == 1
    assert reader.json_object_of_strings("J", '{"a": "b"}') == {}
    with pytest.raises(ConfigError) as raised:
        reader.finish()
    assert raised.value.problems == (
        "N must be a whole number from 1 to 10, got '8.0'",
        "F must be true or false, got 'maybe'",
        "U must be an http(s) URL, got 'ftp://x'",
        "A must be an ARN (arn:aws:iam::...), got 'role'",
        "W must be a whole number, got 1.5",
        'J must be a JSON object of strings, e.g. {"a": "b"}',
    )


def test_blank_values_are_unset_and_a_clean_reader_finishes_quietly() -> None:
    reader = EnvReader({"T": "  ", "N": " 7 ", "X": "2.5e1"})
    assert reader.text("T") is None
    assert reader.integer("N", 1, 1, 10) == 7
    assert reader.number("X", 0, 0, 100) == 25.0
    assert reader.flag("UNSET") is False
    reader.finish()


def test_the_three_settings_parsers_are_one_family() -> None:
    for module in (settings, engagement_settings, api_settings):
        assert issubclass(module._Parser, EnvReader), module.__name__
