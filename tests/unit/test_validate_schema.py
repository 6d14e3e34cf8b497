"""Schema files as CreateSchema checks them, the built-in rules, and telling the dataset type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consumers.onboarding.validate.issues import Issue
from consumers.onboarding.validate.schema import (
    default_schema,
    infer_kind,
    kind_of_schema,
    parse_schema,
)


def schema(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "namespace": "com.amazonaws.personalize.schema",
        "fields": list(fields),
        "version": "1.0",
    }


def rules(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.severity, i.rule) for i in issues]


USER = {"name": "USER_ID", "type": "string"}
ITEM = {"name": "ITEM_ID", "type": "string"}
TIME = {"name": "TIMESTAMP", "type": "long"}


def test_a_good_interactions_schema_has_no_issues() -> None:
    document = schema(
        "Interactions",
        USER,
        ITEM,
        {"name": "EVENT_TYPE", "type": "string"},
        TIME,
        {"name": "EVENT_VALUE", "type": ["float", "null"]},
        {"name": "DEVICE", "type": ["null", "string"], "categorical": True},
    )
    parsed, issues = parse_schema(document, "interactions")
    assert issues == []
    assert parsed is not None and parsed.declared
    device = parsed.field("DEVICE")
    assert device is not None and (device.type, device.nullable, device.categorical) == ("string", True, True)


def test_schema_mistakes_are_each_reported() -> None:
    document = schema(
        "Users",  # an interactions schema named for another dataset type
        USER,
        {"name": "TIMESTAMP", "type": "int"},
        {"name": "EVENT_TYPE", "type": "string", "categorical": True},
        {"name": "DEVICE", "type": "string"},
        {"name": "TAGS", "type": {"type": "array", "items": "string"}},
    )
    _, issues = parse_schema(document, "interactions")
    assert rules(issues) == [
        ("error", "schema-name"),
        ("error", "schema-type"),  # TAGS: arrays are not supported
        ("error", "schema-required"),  # no ITEM_ID
        ("error", "schema-required"),  # TIMESTAMP not long
        ("error", "schema-reserved"),  # EVENT_TYPE categorical
        ("warning", "schema-categorical"),  # DEVICE: Personalize would ignore it
    ]
    assert "TIMESTAMP must be of type long" in issues[3].message


def test_users_and_items_need_a_metadata_field_and_not_too_many() -> None:
    _, issues = parse_schema(schema("Users", USER), "users")
    assert rules(issues) == [("error", "schema-metadata")]
    many = [{"name": f"F{i}", "type": ["null", "string"], "categorical": True} for i in range(6)]
    _, issues = parse_schema(schema("Interactions", USER, ITEM, TIME, *many), "interactions")
    assert rules(issues) == [("error", "schema-metadata")]
    assert "at most 5" in issues[0].message


def test_not_a_record_is_unusable() -> None:
    parsed, issues = parse_schema({"fields": []}, "items")
    assert parsed is None
    assert rules(issues) == [("error", "schema-record")]


@pytest.mark.parametrize(
    ("name", "header", "kind"),
    [
        ("interactions.csv", [], "interactions"),
        ("user-interactions-2026.csv", [], "interactions"),
        ("my_items.csv", [], "items"),
        ("users.csv", [], "users"),
        ("data.csv", ["USER_ID", "ITEM_ID", "TIMESTAMP"], "interactions"),
        ("data.csv", ["ITEM_ID", "GENRE"], "items"),
        ("data.csv", ["USER_ID", "AGE"], "users"),
        ("data.csv", ["A", "B"], None),
    ],
)
def test_the_dataset_type_comes_from_the_file_name_else_the_header(
    name: str, header: list[str], kind: str
) -> None:
    assert infer_kind(Path(name), header) == kind


def test_a_schema_names_its_dataset_type() -> None:
    assert kind_of_schema(schema("Items", ITEM)) == "items"
    assert kind_of_schema({"name": "Other"}) is None
    assert kind_of_schema(None) is None


def test_built_in_rules_type_known_columns_and_take_others_as_categorical_metadata() -> None:
    built = default_schema("interactions", ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_VALUE", "DEVICE"])
    assert not built.declared
    assert [(f.name, f.type, f.nullable, f.categorical) for f in built.fields] == [
        ("USER_ID", "string", False, False),
        ("ITEM_ID", "string", False, False),
        ("TIMESTAMP", "long", False, False),
        ("EVENT_VALUE", "float", True, False),
        ("DEVICE", "string", True, True),
    ]
