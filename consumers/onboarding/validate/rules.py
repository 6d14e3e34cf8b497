"""Row and cell rules of a Personalize dataset CSV; each finding says what is wrong and how to fix it.

Sources: https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html (CSV, Unix epoch
seconds, ``|`` between categories), the dataset requirements pages (ids of at most 256 characters,
categorical values of at most 1,000) and the schema's own types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from typing import Final

from consumers.onboarding.export.avro import (
    ID_FIELDS,
    ID_LIST_FIELDS,
    NUMERIC_TYPES,
    AvroField,
)
from consumers.onboarding.validate.issues import Issue, error, warning
from consumers.onboarding.validate.schema import DatasetSchema
from schemas.limits import PERSONALIZE_CATEGORICAL_VALUE_MAX_LENGTH, PERSONALIZE_ID_MAX_LENGTH

TIMESTAMP_FIELDS: Final = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP"})
# Epoch seconds pass 10^11 in the year 5138; epoch milliseconds passed it in 1973. Anything at or above
# is milliseconds (or, from 10^14, microseconds): no real event happens in the 52nd century.
MILLISECONDS_FROM: Final = 10**11
MICROSECONDS_FROM: Final = 10**14
_INT_BITS: Final = {"int": 32, "long": 64}
_BOOLEANS: Final = frozenset({"true", "false"})
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIST_SEPARATORS: Final = re.compile(r"\s*[,;]\s*")
_LIST_PART_MAX: Final = 40  # longer comma-separated parts read as prose, not a list of categories


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def looks_like_list(value: str) -> bool:
    """``a,b`` / ``a; b`` / ``["a", "b"]``: several categories written the way Personalize won't split."""
    if "|" in value:
        return False
    stripped = value.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        return True
    parts = _LIST_SEPARATORS.split(stripped)
    if len(parts) < 2:
        return False
    return all(part and len(part) <= _LIST_PART_MAX and _float(part) is None for part in parts)


def check_timestamp(name: str, text: str, line: int) -> Iterator[Issue]:
    value = _int(text)
    if value is None:
        if _float(text) is not None:
            yield error(
                "timestamp-fraction",
                f"{name} must be whole epoch seconds, got {text}; drop the fraction",
                line,
            )
        elif _ISO_DATE.match(text):
            yield error(
                "timestamp-format",
                f"{name} must be Unix epoch seconds, got a date ({text[:40]}); convert it to seconds since "
                "1970-01-01T00:00:00Z",
                line,
            )
        else:
            yield error(
                "timestamp-format",
                f"{name} must be Unix epoch seconds (a whole number), got {text[:40]!r}",
                line,
            )
    elif value >= MICROSECONDS_FROM:
        yield error("timestamp-us", f"{name} looks like microseconds ({value}); divide by 1000000", line)
    elif value >= MILLISECONDS_FROM:
        yield error("timestamp-ms", f"{name} looks like milliseconds ({value}); divide by 1000", line)
    elif value < 0:
        yield warning("timestamp-negative", f"{name} is before 1970 ({value}); check the conversion", line)


def check_cell(field: AvroField, text: str, line: int) -> Iterator[Issue]:
    """Rules for one non-empty value of ``field``."""
    name = field.name
    if name in ID_FIELDS and len(text) > PERSONALIZE_ID_MAX_LENGTH:
        yield error(
            "id-length",
            f"{name} is {len(text)} characters long; Personalize ids are at most "
            f"{PERSONALIZE_ID_MAX_LENGTH}: shorten it or map it to a shorter id (e.g. a hash) everywhere",
            line,
        )
    elif name in ID_LIST_FIELDS:
        if any(len(part) > PERSONALIZE_ID_MAX_LENGTH for part in text.split("|")):
            yield error(
                "id-length", f"{name} holds an item id over {PERSONALIZE_ID_MAX_LENGTH} characters", line
            )
    elif name in TIMESTAMP_FIELDS:
        yield from check_timestamp(name, text, line)
    elif field.type in _INT_BITS:
        value = _int(text)
        bits = _INT_BITS[field.type]
        if value is None or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            yield error("type", f"{name} must be a whole number ({field.type}), got {text[:40]!r}", line)
    elif field.type in NUMERIC_TYPES:
        if _float(text) is None:
            yield error("type", f"{name} must be a number ({field.type}), got {text[:40]!r}", line)
    elif field.type == "boolean":
        if text.lower() not in _BOOLEANS:
            yield error("type", f"{name} must be true or false, got {text[:40]!r}", line)
    elif field.categorical:
        yield from _check_categorical(name, text, line)


def _check_categorical(name: str, text: str, line: int) -> Iterator[Issue]:
    if len(text) > PERSONALIZE_CATEGORICAL_VALUE_MAX_LENGTH:
        yield error(
            "categorical-length",
            f"{name} is {len(text):,} characters; categorical values are at most "
            f"{PERSONALIZE_CATEGORICAL_VALUE_MAX_LENGTH:,} (the import job fails): shorten it",
            line,
        )
    elif looks_like_list(text):
        yield warning(
            "categorical-separator",
            f"{name} looks like a list ({text[:60]!r}); Personalize splits categories only on '|': "
            "write a|b|c, or quote it as one category if it is one",
            line,
        )


class RowRules:
    """Checks rows against a schema, with columns matched by name (whatever order the header has)."""

    def __init__(self, schema: DatasetSchema, header: Sequence[str]) -> None:
        self.width = len(header)
        self.columns: list[tuple[int, AvroField]] = []
        for index, name in enumerate(header):
            field = schema.field(name)
            if field is not None:
                self.columns.append((index, field))

    def check(self, row: Sequence[str], line: int) -> Iterator[Issue]:
        if len(row) != self.width:
            yield error(
                "field-count",
                f"{len(row)} values, but the header has {self.width} columns; quote values that contain "
                'commas ("a, b") and check for a missing or extra separator',
                line,
            )
            return
        for index, field in self.columns:
            text = row[index]
            if text == "":
                if not field.nullable:
                    yield error(
                        "empty-value",
                        f"{field.name} is empty; every row needs one (or make it nullable in the schema)",
                        line,
                    )
                continue
            yield from check_cell(field, text, line)
