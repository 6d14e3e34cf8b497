"""CSV writers for the Personalize datasets: files appear whole or not at all, rows stream to disk.

Personalize reads CSV with a header row of unquoted field names, UTF-8, values quoted only when they hold
a comma, a quote or a line break
(https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html), which is what ``csv.writer``
does by default. Each file is written under a temporary name and renamed into place on success, so an
interrupted export never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Final

from consumers.onboarding.export.avro import AvroField
from consumers.onboarding.export.fields import NOTHING, FieldRead, FieldSpec, FieldValues, read_fields
from schemas.interaction import Interaction

INTERACTION_COLUMNS: Final = ("USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
EVENT_VALUE_COLUMN: Final = "EVENT_VALUE"


class CsvFile:
    """One dataset file: ``write`` rows, then ``commit`` (rename into place) or ``abort`` (delete)."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._handle: IO[str] = self._partial.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(header)
        self.rows = 0

    def write(self, row: Sequence[str]) -> None:
        self._writer.writerow(row)
        self.rows += 1

    def commit(self) -> Path:
        self._handle.close()
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        self._handle.close()
        self._partial.unlink(missing_ok=True)


def epoch_seconds(interaction: Interaction) -> int:
    """TIMESTAMP as Personalize wants it: whole Unix epoch seconds (floored, like the event's second)."""
    return math.floor(interaction.sent_at.timestamp())


class InteractionColumns:
    """How an ``Interaction`` becomes an interactions.csv row: required columns, EVENT_VALUE, metadata.

    Metadata comes from the interaction's ``properties``, the very JSON the stream sends to PutEvents
    (camelCase keys, from the event map's ``property_whitelist``), so both paths carry the same values.
    """

    def __init__(self, *, event_value: bool, metadata: Iterable[FieldSpec]) -> None:
        self.event_value = event_value
        self.metadata = FieldValues(metadata)

    @property
    def header(self) -> tuple[str, ...]:
        value = (EVENT_VALUE_COLUMN,) if self.event_value else ()
        return INTERACTION_COLUMNS + value + self.metadata.columns

    def row_after_user(self, interaction: Interaction, item_id: str) -> tuple[list[str], FieldRead]:
        """Every cell but USER_ID (which may only be known later, for anonymous events), and the metadata
        read (for ``metadata.observe`` once the row is kept: a duplicate's read does not count)."""
        row = [item_id, interaction.event_type, str(epoch_seconds(interaction))]
        if self.event_value:
            value = interaction.event_value
            row.append("" if value is None else repr(value))
        found = NOTHING
        if self.metadata.specs:
            properties = json.loads(interaction.properties) if interaction.properties else {}
            found = read_fields(self.metadata.specs, properties)
            row.extend(found.cells.get(column, "") for column in self.metadata.columns)
        return row, found

    def avro_fields(self) -> list[AvroField]:
        fields = [
            AvroField("USER_ID", "string"),
            AvroField("ITEM_ID", "string"),
            AvroField("EVENT_TYPE", "string"),
            AvroField("TIMESTAMP", "long"),
        ]
        if self.event_value:
            fields.append(AvroField(EVENT_VALUE_COLUMN, "float", nullable=True))
        return fields + self.metadata.avro_fields()


class MetadataFile:
    """users.csv or items.csv: an id column, then the configured fields, written from the scratch file."""

    def __init__(self, path: Path, id_column: str, values: FieldValues) -> None:
        self.values = values
        self.file = CsvFile(path, (id_column, *values.columns))

    def write(self, row_id: str, cells: dict[str, str]) -> None:
        self.file.write([row_id, *(cells.get(column, "") for column in self.values.columns)])

    def avro_fields(self, id_column: str) -> list[AvroField]:
        return [AvroField(id_column, "string"), *self.values.avro_fields()]


def dead_letter_line(source: str, line: int, reason: str, raw: bytes | None) -> str:
    """One ``dead_letters.jsonl`` line: file, line number, reason and the raw text (both engines)."""
    text = None if raw is None else raw.decode("utf-8", "backslashreplace")
    record = {"file": source, "line": line, "reason": reason, "raw": text}
    return json.dumps(record, ensure_ascii=False) + "\n"


class DeadLetterFile:
    """``dead_letters.jsonl``: one JSON object per unusable line (file, line, reason, raw text), created on
    the first one. A stale file from an earlier run is removed up front, so its presence always means now."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._handle: IO[str] | None = None

    def write(self, source: str, line: int, reason: str, raw: bytes | None) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        self._handle.write(dead_letter_line(source, line, reason, raw))

    @property
    def written(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
