"""Configured dataset fields: Segment names -> Personalize column names, values -> CSV cells, and types.

A field is named the Segment way (``plan``, ``discount_code``, ``address.country``) and becomes an upper
snake case Personalize column (``PLAN``, ``DISCOUNT_CODE``, ``ADDRESS_COUNTRY``), which is also the name
PutEvents expects in camelCase (``discountCode``) for interaction metadata.

Cells follow Personalize's CSV conventions: a list of values becomes one categorical cell joined with
``|``; booleans become ``True``/``False`` strings, since Personalize does not train on boolean fields;
nested objects and non-finite numbers have no cell. Column types are inferred from the values seen: all
whole numbers -> ``long``, all numbers -> ``float``, anything else -> categorical ``string``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from consumers.onboarding.export.avro import AvroField
from consumers.stream.event_map import camel_case, value_at
from schemas.errors import ConfigError
from schemas.limits import PERSONALIZE_CATEGORICAL_VALUE_MAX_LENGTH

# Avro names: https://avro.apache.org/docs/1.11.1/specification/#names
_AVRO_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAPITAL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_LONG, _FLOAT, _STRING = "long", "float", "string"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where a column's values come from (a dotted path) and the column's Personalize name."""

    path: str
    column: str


def column_name(name: str) -> str:
    """``discount_code``, ``discountCode``, ``address.country`` -> ``DISCOUNT_CODE``, ``ADDRESS_COUNTRY``."""
    return _CAPITAL.sub("_", camel_case(name.replace(".", "_"))).upper()


def field_specs(
    names: Iterable[str], *, option: str, taken: Iterable[str], most: int
) -> tuple[FieldSpec, ...]:
    """Validate configured names (at most ``most`` of them, Personalize's limit for the dataset type);
    ``ConfigError`` names every problem (``option`` is the CLI flag)."""
    problems: list[str] = []
    used = {name: "a reserved field" for name in taken}
    specs: list[FieldSpec] = []
    for name in names:
        column = column_name(name)
        if not _AVRO_NAME.fullmatch(column):
            problems.append(f"{option}: {name!r} does not make a Personalize field name (letters, digits, _)")
        elif column in used:
            problems.append(f"{option}: {name!r} becomes {column}, which is already {used[column]}")
        else:
            used[column] = f"the column of {name!r}"
            specs.append(FieldSpec(name, column))
    if len(specs) > most:
        problems.append(f"{option}: {len(specs)} fields; Personalize allows at most {most} for this dataset")
    if problems:
        raise ConfigError(problems)
    return tuple(specs)


def cell(value: Any) -> str | None:
    """The CSV text of a value, or None when it has none (absent, empty, nested, not finite)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, list):
        parts = [text for text in (cell(v) for v in value if not isinstance(v, list | dict)) if text]
        return "|".join(parts) or None
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return _STRING
    if isinstance(value, int):
        return _LONG
    if isinstance(value, float):
        return _FLOAT
    return _STRING


@dataclass(frozen=True, slots=True)
class FieldRead:
    """What one read of a source found: column -> cell, column -> kind, and values too long to keep."""

    cells: dict[str, str]
    kinds: dict[str, str]
    too_long: int = 0


NOTHING: Final = FieldRead({}, {}, 0)


def read_fields(specs: tuple[FieldSpec, ...], source: Mapping[str, Any]) -> FieldRead:
    """Column -> cell for every configured field with a usable value in ``source``. Pure: both export
    engines read on their own side (executors for Spark) and fold the reads they keep into ``FieldValues``."""
    if not specs:
        return NOTHING
    found: dict[str, str] = {}
    kinds: dict[str, str] = {}
    too_long = 0
    for spec in specs:
        # A key as given first (interaction metadata keys are flat), else a dotted path (traits).
        value = source[spec.path] if spec.path in source else value_at(source, spec.path)
        text = cell(value)
        if text is None:
            continue
        kind = _kind(value)
        if kind == _STRING and len(text) > PERSONALIZE_CATEGORICAL_VALUE_MAX_LENGTH:
            too_long += 1  # the import job would fail on it; an empty cell is the lesser harm
            continue
        kinds[spec.column] = kind
        found[spec.column] = text
    return FieldRead(found, kinds, too_long)


def joined_kind(before: str | None, kind: str) -> str:
    """The column type that fits both: long < float < string (a join, so the order of reads is moot)."""
    if before is None or before == kind:
        return kind
    if {before, kind} == {_LONG, _FLOAT}:
        return _FLOAT
    return _STRING


class FieldValues:
    """Configured fields, and each column's type and the values too long, from the reads it was shown."""

    def __init__(self, specs: Iterable[FieldSpec]) -> None:
        self.specs = tuple(specs)
        self.kinds: dict[str, str] = {}
        self.too_long = 0  # categorical values over Personalize's limit, left empty

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(spec.column for spec in self.specs)

    def read(self, source: Mapping[str, Any]) -> dict[str, str]:
        """Column -> cell for every configured field with a usable value in ``source``, observed."""
        found = read_fields(self.specs, source)
        self.observe(found)
        return found.cells

    def observe(self, found: FieldRead) -> None:
        self.too_long += found.too_long
        for column, kind in found.kinds.items():
            self.kinds[column] = joined_kind(self.kinds.get(column), kind)

    def merge(self, other: FieldValues) -> None:
        """Fold another accumulator's observations into this one (Spark: one per partition)."""
        self.observe(FieldRead({}, other.kinds, other.too_long))

    def avro_fields(self) -> list[AvroField]:
        """Nullable fields (any row may lack a value); a column that never had one is a string."""
        fields = []
        for column in self.columns:
            kind = self.kinds.get(column, _STRING)
            fields.append(AvroField(column, kind, nullable=True, categorical=kind == _STRING))
        return fields
