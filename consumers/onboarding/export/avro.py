"""Amazon Personalize dataset schemas (Avro JSON) and the rules they follow, for export and validate.

From https://docs.aws.amazon.com/personalize/latest/dg/how-it-works-dataset-schema.html and
https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html:

- a flat Avro ``record`` named after its dataset type (``Interactions``, ``Users``, ``Items``), namespace
  ``com.amazonaws.personalize.schema``, ``"version": "1.0"``; no arrays, maps or nested records;
- its fields in the same order as the CSV header;
- required fields with their required types: USER_ID and ITEM_ID ``string``, TIMESTAMP ``long``;
- reserved fields with their types: EVENT_TYPE ``string`` (never categorical), EVENT_VALUE ``float``,
  IMPRESSION, RECOMMENDATION_ID, EVENT_ATTRIBUTION_SOURCE ``string``; CREATION_TIMESTAMP ``long`` (items);
- a metadata ``string`` field is used in training only when ``"categorical": true`` (or ``"textual"``
  for items); a field that may be empty is a union with ``"null"``;
- Users and Items schemas need at least one metadata field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

DatasetKind = Literal["interactions", "users", "items"]
DATASET_KINDS: Final[tuple[DatasetKind, ...]] = ("interactions", "items", "users")

NAMESPACE: Final = "com.amazonaws.personalize.schema"
SCHEMA_VERSION: Final = "1.0"
RECORD_NAMES: Final[Mapping[DatasetKind, str]] = {
    "interactions": "Interactions",
    "users": "Users",
    "items": "Items",
}
# Avro primitive types Personalize accepts for a field.
AVRO_TYPES: Final = frozenset({"string", "int", "long", "float", "double", "boolean"})
NUMERIC_TYPES: Final = frozenset({"int", "long", "float", "double"})

# Field -> the types it may have, for the required and the reserved fields of each dataset type.
REQUIRED_FIELDS: Final[Mapping[DatasetKind, Mapping[str, frozenset[str]]]] = {
    "interactions": {
        "USER_ID": frozenset({"string"}),
        "ITEM_ID": frozenset({"string"}),
        "TIMESTAMP": frozenset({"long"}),
    },
    "users": {"USER_ID": frozenset({"string"})},
    "items": {"ITEM_ID": frozenset({"string"})},
}
RESERVED_FIELDS: Final[Mapping[DatasetKind, Mapping[str, frozenset[str]]]] = {
    "interactions": {
        "EVENT_TYPE": frozenset({"string"}),
        "EVENT_VALUE": frozenset({"float"}),
        "IMPRESSION": frozenset({"string"}),
        "RECOMMENDATION_ID": frozenset({"string"}),
        "EVENT_ATTRIBUTION_SOURCE": frozenset({"string"}),
    },
    "users": {},
    "items": {"CREATION_TIMESTAMP": frozenset({"long"})},
}
ID_FIELDS: Final = frozenset({"USER_ID", "ITEM_ID"})
# Reserved fields whose value is a list of item ids separated by "|".
ID_LIST_FIELDS: Final = frozenset({"IMPRESSION"})
SCHEMA_FILE_SUFFIX: Final = ".schema.json"


@dataclass(frozen=True, slots=True)
class AvroField:
    """One field of a Personalize schema."""

    name: str
    type: str
    nullable: bool = False
    categorical: bool = False
    textual: bool = False

    def to_json(self) -> dict[str, Any]:
        # "null" second: Avro defaults apply to the first branch, and the documentation's examples put the
        # value type first for EVENT_VALUE.
        field: dict[str, Any] = {
            "name": self.name,
            "type": [self.type, "null"] if self.nullable else self.type,
        }
        if self.categorical:
            field["categorical"] = True
        if self.textual:
            field["textual"] = True
        return field


def metadata_fields(kind: DatasetKind, fields: Iterable[AvroField]) -> list[AvroField]:
    """The fields that are neither required nor reserved: what Personalize counts as metadata."""
    known = set(REQUIRED_FIELDS[kind]) | set(RESERVED_FIELDS[kind])
    return [field for field in fields if field.name not in known]


def schema_json(kind: DatasetKind, fields: Iterable[AvroField]) -> dict[str, Any]:
    """The schema document for CreateSchema, fields in CSV column order."""
    return {
        "type": "record",
        "name": RECORD_NAMES[kind],
        "namespace": NAMESPACE,
        "fields": [field.to_json() for field in fields],
        "version": SCHEMA_VERSION,
    }


def schema_text(kind: DatasetKind, fields: Iterable[AvroField]) -> str:
    return json.dumps(schema_json(kind, fields), indent=2) + "\n"


def write_schema(path: Path, kind: DatasetKind, fields: Iterable[AvroField]) -> None:
    path.write_text(schema_text(kind, fields), encoding="utf-8")


def schema_path_for(csv_path: Path) -> Path:
    """Where ``pue export`` puts a dataset's schema: ``interactions.csv`` -> ``interactions.schema.json``."""
    return csv_path.with_name(csv_path.stem + SCHEMA_FILE_SUFFIX)
