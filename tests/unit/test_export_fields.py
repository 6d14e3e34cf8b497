"""Configured dataset fields: column names, CSV cells, inferred Avro types, and the schema documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumers.onboarding.export.avro import (
    AvroField,
    schema_json,
    schema_path_for,
    write_schema,
)
from consumers.onboarding.export.fields import (
    FieldValues,
    cell,
    column_name,
    field_specs,
)
from schemas.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("category", "CATEGORY"),
        ("discount_code", "DISCOUNT_CODE"),
        ("discountCode", "DISCOUNT_CODE"),
        ("address.country", "ADDRESS_COUNTRY"),
        ("DISCOUNT_CODE", "DISCOUNT_CODE"),
    ],
)
def test_column_names_are_upper_snake_case(name: str, column: str) -> None:
    assert column_name(name) == column


def test_field_specs_name_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        field_specs(
            ["plan", "Plan", "user_id", "a b!c", "x", "y"], option="--user-fields", taken=["USER_ID"], most=3
        )
    problems = str(caught.value)
    assert "'Plan' becomes PLAN, which is already the column of 'plan'" in problems
    assert "'user_id' becomes USER_ID, which is already a reserved field" in problems
    assert "'a b!c' does not make a Personalize field name" in problems
    assert "3 fields; Personalize allows at most 3" not in problems  # plan, x, y: at the limit
    with pytest.raises(ConfigError, match="4 fields; Personalize allows at most 3"):
        field_specs(["a", "b", "c", "d"], option="--item-fields", taken=[], most=3)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("shoes", "shoes"),
        ("", None),
        (None, None),
        (True, "True"),
        (False, "False"),
        (12, "12"),
        (9.5, "9.5"),
        (float("nan"), None),
        (["a", "b", "", 3, {"x": 1}], "a|b|3"),
        ([], None),
        ({"nested": 1}, None),
    ],
)
def test_cells_follow_personalize_csv_conventions(value: object, text: str | None) -> None:
    assert cell(value) == text


def test_field_values_read_paths_and_infer_types() -> None:
    values = FieldValues(
        field_specs(["price", "qty", "tags", "address.country", "mixed"], option="x", taken=[], most=9)
    )

    first = values.read({"price": 10, "qty": 1, "tags": ["a", "b"], "address": {"country": "FR"}, "mixed": 1})
    values.read({"price": 9.99, "qty": 2, "mixed": "one"})

    assert first == {"PRICE": "10", "QTY": "1", "TAGS": "a|b", "ADDRESS_COUNTRY": "FR", "MIXED": "1"}
    types = {f.name: (f.type, f.categorical, f.nullable) for f in values.avro_fields()}
    assert types == {
        "PRICE": ("float", False, True),
        "QTY": ("long", False, True),
        "TAGS": ("string", True, True),
        "ADDRESS_COUNTRY": ("string", True, True),
        "MIXED": ("string", True, True),
    }


def test_a_categorical_value_over_the_limit_is_left_empty_and_counted() -> None:
    values = FieldValues(field_specs(["name"], option="x", taken=[], most=1))
    assert values.read({"name": "n" * 1001}) == {}
    assert values.too_long == 1
    assert values.read({"name": "n" * 1000}) == {"NAME": "n" * 1000}


def test_schema_documents_have_personalize_shape(tmp_path: Path) -> None:
    fields = [
        AvroField("USER_ID", "string"),
        AvroField("EVENT_VALUE", "float", nullable=True),
        AvroField("DEVICE", "string", nullable=True, categorical=True),
    ]
    path = schema_path_for(tmp_path / "interactions.csv")
    write_schema(path, "interactions", fields)

    document = json.loads(path.read_text())

    assert path.name == "interactions.schema.json"
    assert document == schema_json("interactions", fields)
    assert document == {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["float", "null"]},
            {"name": "DEVICE", "type": ["string", "null"], "categorical": True},
        ],
        "version": "1.0",
    }
