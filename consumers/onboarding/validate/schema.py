"""The schema a dataset CSV is checked against: a Personalize schema file, or the built-in rules.

With ``--schema FILE`` (or ``<name>.schema.json`` next to the CSV, as ``pue export`` writes it), the file
is checked as CreateSchema would check it, and the CSV header must list its fields in the same order.
Without one, the dataset type's required and reserved fields are checked with their types, and every
other column is taken as nullable categorical metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from consumers.onboarding.export.avro import (
    AVRO_TYPES,
    DATASET_KINDS,
    NAMESPACE,
    RECORD_NAMES,
    REQUIRED_FIELDS,
    RESERVED_FIELDS,
    AvroField,
    DatasetKind,
    metadata_fields,
)
from consumers.onboarding.validate.issues import Issue, error, warning
from schemas.limits import (
    PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS,
    PERSONALIZE_ITEMS_MAX_METADATA_FIELDS,
    PERSONALIZE_USERS_MAX_METADATA_FIELDS,
)

_AVRO_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_METADATA_FIELDS: Final[Mapping[DatasetKind, int]] = {
    "interactions": PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS,
    "items": PERSONALIZE_ITEMS_MAX_METADATA_FIELDS,
    "users": PERSONALIZE_USERS_MAX_METADATA_FIELDS,
}


@dataclass(frozen=True, slots=True)
class DatasetSchema:
    kind: DatasetKind
    fields: tuple[AvroField, ...]
    declared: bool  # read from a schema file: the header must match it exactly

    def field(self, name: str) -> AvroField | None:
        return next((f for f in self.fields if f.name == name), None)


def infer_kind(path: Path, header: Sequence[str]) -> DatasetKind | None:
    """From the file name (``interactions.csv``, ``my-items.csv``), else from the header's id columns."""
    stem = path.name.lower()
    for kind, word in (("interactions", "interaction"), ("items", "item"), ("users", "user")):
        if word in stem:
            return kind  # type: ignore[return-value]  # the literal is one of DatasetKind's
    columns = set(header)
    if {"USER_ID", "ITEM_ID", "TIMESTAMP"} <= columns:
        return "interactions"
    if "ITEM_ID" in columns and "USER_ID" not in columns:
        return "items"
    if "USER_ID" in columns and "ITEM_ID" not in columns:
        return "users"
    return None


def kind_of_schema(document: Any) -> DatasetKind | None:
    """The dataset type a schema document names (``"name": "Interactions"``), if any."""
    name = document.get("name") if isinstance(document, Mapping) else None
    return next((kind for kind in DATASET_KINDS if RECORD_NAMES[kind] == name), None)


def read_schema_document(path: Path) -> tuple[Any, list[Issue]]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), []
    except OSError as exc:
        return None, [error("schema-unreadable", f"{path}: cannot read the schema: {exc.strerror or exc}")]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [error("schema-json", f"{path}: not a JSON document ({exc}); fix the JSON syntax")]


def default_schema(kind: DatasetKind, header: Sequence[str]) -> DatasetSchema:
    """Known fields with their required types; any other column as nullable categorical metadata."""
    known = {**REQUIRED_FIELDS[kind], **RESERVED_FIELDS[kind]}
    fields = []
    for name in header:
        types = known.get(name)
        if types is None:
            fields.append(AvroField(name, "string", nullable=True, categorical=True))
        else:
            fields.append(AvroField(name, sorted(types)[0], nullable=name in RESERVED_FIELDS[kind]))
    return DatasetSchema(kind, tuple(fields), declared=False)


def parse_schema(document: Any, kind: DatasetKind) -> tuple[DatasetSchema | None, list[Issue]]:
    """Check a schema document as CreateSchema and the dataset type require; None when unusable."""
    if not isinstance(document, Mapping) or document.get("type") != "record":
        return None, [error("schema-record", 'the schema must be a JSON object with "type": "record"')]
    issues: list[Issue] = []
    expected = RECORD_NAMES[kind]
    if document.get("name") != expected:
        issues.append(
            error("schema-name", f'a {kind} schema must be named "{expected}" ("name": "{expected}")')
        )
    if document.get("namespace") != NAMESPACE:
        issues.append(warning("schema-namespace", f'Personalize schemas use "namespace": "{NAMESPACE}"'))
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        return None, [*issues, error("schema-fields", 'the schema needs a non-empty "fields" list')]
    fields: list[AvroField] = []
    for raw in raw_fields:
        field = _field(raw, issues)
        if field is not None:
            if any(f.name == field.name for f in fields):
                issues.append(error("schema-field", f"field {field.name} is declared twice; keep one"))
            fields.append(field)
    issues.extend(_dataset_rules(kind, fields))
    return DatasetSchema(kind, tuple(fields), declared=True), issues


def _field(raw: Any, issues: list[Issue]) -> AvroField | None:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if not isinstance(name, str) or not _AVRO_NAME.fullmatch(name):
        issues.append(error("schema-field", f"field name {name!r} is not an Avro name (letters, digits, _)"))
        return None
    declared = raw.get("type")
    branches = declared if isinstance(declared, list) else [declared]
    nullable = "null" in branches
    types = [b for b in branches if b != "null"]
    if len(types) != 1 or not isinstance(types[0], str) or types[0] not in AVRO_TYPES:
        issues.append(
            error(
                "schema-type",
                f"field {name}: type {declared!r} is not supported; use one of "
                f'{", ".join(sorted(AVRO_TYPES))}, optionally with "null" (e.g. ["string", "null"])',
            )
        )
        return None
    categorical, textual = raw.get("categorical") is True, raw.get("textual") is True
    return AvroField(name, types[0], nullable=nullable, categorical=categorical, textual=textual)


def _dataset_rules(kind: DatasetKind, fields: Sequence[AvroField]) -> list[Issue]:
    issues: list[Issue] = []
    by_name = {f.name: f for f in fields}
    for name, types in REQUIRED_FIELDS[kind].items():
        field = by_name.get(name)
        if field is None:
            issues.append(
                error("schema-required", f"a {kind} schema needs a {name} field of type {_one(types)}")
            )
        elif field.type not in types or field.nullable:
            issues.append(error("schema-required", f"{name} must be of type {_one(types)} (not nullable)"))
    for name, types in RESERVED_FIELDS[kind].items():
        field = by_name.get(name)
        if field is not None and field.type not in types:
            issues.append(error("schema-reserved", f"reserved field {name} must be of type {_one(types)}"))
        if field is not None and field.categorical:
            issues.append(
                error("schema-reserved", f'reserved field {name} cannot be categorical; remove "categorical"')
            )
    metadata = metadata_fields(kind, fields)
    for field in metadata:
        if field.type == "string" and not (field.categorical or field.textual):
            issues.append(
                warning(
                    "schema-categorical",
                    f'field {field.name} is a string without "categorical": true, so Personalize ignores it '
                    'in training; add "categorical": true',
                )
            )
    if kind != "interactions" and not metadata:
        issues.append(error("schema-metadata", f"a {kind} schema needs at least one metadata field"))
    if len(metadata) > MAX_METADATA_FIELDS[kind]:
        issues.append(
            error(
                "schema-metadata",
                f"{len(metadata)} metadata fields; a {kind} schema may have at most "
                f"{MAX_METADATA_FIELDS[kind]}: drop some",
            )
        )
    return issues


def _one(types: frozenset[str]) -> str:
    return " or ".join(sorted(types))
