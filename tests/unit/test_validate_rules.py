"""Cell and row rules of pue validate: each finding names the problem and the fix."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from consumers.onboarding.export.avro import AvroField
from consumers.onboarding.validate.issues import Issue
from consumers.onboarding.validate.rules import (
    RowRules,
    check_cell,
    check_timestamp,
    looks_like_list,
)
from consumers.onboarding.validate.schema import default_schema


def messages(issues: Iterable[Issue]) -> list[tuple[str, str, str]]:
    return [(i.severity, i.rule, i.message) for i in issues]


def test_timestamps_in_milliseconds_are_detected_with_the_fix() -> None:
    [(severity, rule, text)] = messages(check_timestamp("TIMESTAMP", "1730458800000", 7))
    assert (severity, rule) == ("error", "timestamp-ms")
    assert text == "TIMESTAMP looks like milliseconds (1730458800000); divide by 1000"


@pytest.mark.parametrize(
    ("text", "rule", "fragment"),
    [
        ("1730458800000000", "timestamp-us", "divide by 1000000"),
        ("1730458800.5", "timestamp-fraction", "drop the fraction"),
        ("2026-11-01T12:00:00Z", "timestamp-format", "convert it to seconds"),
        ("soon", "timestamp-format", "a whole number"),
        ("-5", "timestamp-negative", "before 1970"),
    ],
)
def test_other_timestamp_mistakes(text: str, rule: str, fragment: str) -> None:
    [(_, got_rule, message)] = messages(check_timestamp("TIMESTAMP", text, 1))
    assert got_rule == rule
    assert fragment in message


def test_seconds_pass() -> None:
    assert messages(check_timestamp("TIMESTAMP", "1730458800", 1)) == []


def test_ids_over_256_characters_are_errors_with_their_length() -> None:
    [(severity, rule, text)] = messages(check_cell(AvroField("ITEM_ID", "string"), "x" * 300, 3))
    assert (severity, rule) == ("error", "id-length")
    assert "ITEM_ID is 300 characters long; Personalize ids are at most 256" in text
    assert messages(check_cell(AvroField("ITEM_ID", "string"), "x" * 256, 3)) == []
    impressions = AvroField("IMPRESSION", "string", nullable=True)
    assert messages(check_cell(impressions, "a|" + "b" * 257, 3))[0][1] == "id-length"


@pytest.mark.parametrize(
    ("field", "text", "ok"),
    [
        (AvroField("AGE", "int"), "34", True),
        (AvroField("AGE", "int"), "3000000000", False),
        (AvroField("VIEWS", "long"), "3000000000", True),
        (AvroField("VIEWS", "long"), "1.5", False),
        (AvroField("PRICE", "float"), "9.99", True),
        (AvroField("PRICE", "float"), "nan", False),
        (AvroField("PRICE", "double"), "cheap", False),
        (AvroField("VIP", "boolean"), "True", True),
        (AvroField("VIP", "boolean"), "yes", False),
    ],
)
def test_values_must_match_their_schema_type(field: AvroField, text: str, ok: bool) -> None:
    found = messages(check_cell(field, text, 1))
    assert (found == []) is ok
    if not ok:
        assert found[0][1] == "type"


@pytest.mark.parametrize(
    ("value", "is_list"),
    [
        ("shoes,bags", True),
        ("shoes; bags; hats", True),
        ('["shoes", "bags"]', True),
        ("shoes|bags", False),
        ("shoes", False),
        ("1,5", False),  # a decimal comma, not two categories
        ("Shoes, Bags and More for the Whole Family Every Day of the Year, Now", False),  # prose
    ],
)
def test_list_like_categorical_values(value: str, is_list: bool) -> None:
    assert looks_like_list(value) is is_list


def test_categorical_values_get_separator_warnings_and_length_errors() -> None:
    genre = AvroField("GENRE", "string", nullable=True, categorical=True)
    [(severity, rule, text)] = messages(check_cell(genre, "horror,comedy", 2))
    assert (severity, rule) == ("warning", "categorical-separator")
    assert "write a|b|c" in text
    assert messages(check_cell(genre, "g" * 1001, 2))[0][:2] == ("error", "categorical-length")


def test_rows_with_the_wrong_number_of_values_or_missing_required_values() -> None:
    header = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE"]
    rules = RowRules(default_schema("interactions", header), header)
    assert messages(rules.check(["u1", "i1", "1730458800", ""], 2)) == []  # EVENT_VALUE may be empty
    [(_, rule, text)] = messages(rules.check(["u1", "i1, i2", "1730458800", "", "x"], 3))
    assert rule == "field-count"
    assert "5 values, but the header has 4 columns" in text
    [(_, rule, text)] = messages(rules.check(["", "i1", "1730458800", ""], 4))
    assert (rule, text.split(";")[0]) == ("empty-value", "USER_ID is empty")
