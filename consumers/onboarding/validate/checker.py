"""Check one dataset CSV the way CreateSchema, CreateDatasetImportJob and training would, in one pass.

The file is streamed (one row in memory at a time, counts in a scratch file), so its size does not matter.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from consumers.onboarding.export.avro import REQUIRED_FIELDS, DatasetKind, schema_path_for
from consumers.onboarding.validate.issues import Issue, error, warning
from consumers.onboarding.validate.report import DEFAULT_MAX_SHOWN, Report
from consumers.onboarding.validate.rules import MILLISECONDS_FROM, RowRules
from consumers.onboarding.validate.schema import (
    DatasetSchema,
    default_schema,
    infer_kind,
    kind_of_schema,
    parse_schema,
    read_schema_document,
)
from consumers.onboarding.validate.tally import Tally
from schemas.limits import (
    PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS,
    PERSONALIZE_MIN_ACTIVE_USERS,
    PERSONALIZE_MIN_INTERACTIONS,
)

_BOM: Final = "\ufeff"
_HEAD_BYTES: Final = 64 * 1024
# Personalize counts distinct event types and optional interaction fields together against this limit.
_MAX_EVENT_TYPES_AND_FIELDS: Final = 10
_ID_COLUMN: Final[dict[DatasetKind, str]] = {
    "interactions": "USER_ID",
    "items": "ITEM_ID",
    "users": "USER_ID",
}


class UsageError(Exception):
    """The command cannot run at all (no such file, unknown dataset type): nothing was validated."""


def validate_file(
    path: Path,
    *,
    kind: DatasetKind | None = None,
    schema_path: Path | None = None,
    max_shown: int = DEFAULT_MAX_SHOWN,
    scratch_dir: Path | None = None,
) -> Report:
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    report = Report(path, max_shown=max_shown)
    try:
        # utf-8-sig: a byte order mark is reported (below), then read past so the header parses.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            _validate(handle, report, kind, schema_path, scratch_dir)
    except UnicodeDecodeError as exc:
        report.add(
            error("encoding", f"the file is not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8")
        )
    return report


def _validate(
    handle: Iterator[str],
    report: Report,
    kind: DatasetKind | None,
    schema_path: Path | None,
    scratch: Path | None,
) -> None:
    reader = csv.reader(handle, strict=True)  # an unterminated quote is an error, not a silent long field
    header = next(reader, None)
    if header is None:
        report.add(error("empty-file", "the file is empty; it needs a header row and data rows"))
        return
    _check_header_text(report)
    schema = _schema(report, header, kind, schema_path)
    if schema is None:
        return
    _check_header(report, schema, header)
    with Tally(scratch) as tally:
        _check_rows(reader, report, schema, header, tally)
        _check_dataset(report, schema, tally)


def _check_header_text(report: Report) -> None:
    with report.path.open("rb") as raw:
        first = raw.readline(_HEAD_BYTES)
    if first.startswith(_BOM.encode()):
        report.add(warning("bom", "the file starts with a byte order mark; save it as UTF-8 without BOM", 1))
    if b'"' in first:
        report.add(
            error("header-quotes", "header names are in quotation marks; Personalize wants them bare", 1)
        )


def _schema(
    report: Report, header: Sequence[str], kind: DatasetKind | None, schema_path: Path | None
) -> DatasetSchema | None:
    document = None
    if schema_path is None and schema_path_for(report.path).is_file():
        schema_path = schema_path_for(report.path)  # written next to the CSV by pue export
    if schema_path is not None:
        document, problems = read_schema_document(schema_path)
        for problem in problems:
            report.add(problem)
    kind = kind or kind_of_schema(document) or infer_kind(report.path, header)
    if kind is None:
        raise UsageError(
            f"{report.path}: cannot tell the dataset type from its name or header; pass --kind interactions, "
            "items or users"
        )
    report.kind = kind
    if document is None or schema_path is None:
        return default_schema(kind, header)
    schema, problems = parse_schema(document, kind)
    for problem in problems:
        report.add(problem)
    if schema is None:
        return default_schema(kind, header)
    report.schema_source = str(schema_path)
    return schema


def _check_header(report: Report, schema: DatasetSchema, header: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            report.add(error("header-duplicate", f"column {name} appears twice in the header; keep one", 1))
        seen.add(name)
    expected = [f.name for f in schema.fields]
    # A schema file's fields are all needed, in order; without one, only the dataset type's required ones.
    for name in expected if schema.declared else REQUIRED_FIELDS[schema.kind]:
        if name not in seen:
            report.add(error("header-missing", f"no {name} column; add it (the schema requires it)", 1))
    if schema.declared:
        for name in header:
            if name not in expected:
                report.add(
                    error(
                        "header-extra",
                        f"column {name} is not in the schema; remove it or add it to the schema",
                        1,
                    )
                )
        if set(header) == set(expected) and list(header) != expected:
            report.add(
                error("header-order", f"columns must be in the schema's order: {','.join(expected)}", 1)
            )


def _check_rows(
    reader: Iterator[list[str]], report: Report, schema: DatasetSchema, header: Sequence[str], tally: Tally
) -> None:
    rules = RowRules(schema, header)
    index = {name: i for i, name in enumerate(header)}
    line_num = getattr(reader, "line_num", 1)
    while True:
        start = line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            report.add(error("csv", f"not valid CSV ({exc}); check quoting on this line", start))
            if getattr(reader, "line_num", line_num) == line_num:
                return  # the reader cannot get past it: stop rather than loop
            line_num = getattr(reader, "line_num", start)
            continue
        line_num = getattr(reader, "line_num", start)
        if row is None:
            return
        if not any(cell.strip() for cell in row):
            report.add(error("empty-row", "empty row; remove it", start))
            continue
        issues = list(rules.check(row, start))
        for issue in issues:
            report.add(issue)
        if any(i.rule == "field-count" for i in issues):
            continue
        _tally(report, schema.kind, row, index, start, tally)


def _tally(
    report: Report, kind: DatasetKind, row: list[str], index: dict[str, int], line: int, tally: Tally
) -> None:
    def value(name: str) -> str | None:
        position = index.get(name)
        return row[position] if position is not None else None

    key = row if kind == "interactions" else [value(_ID_COLUMN[kind]) or ""]
    earlier = tally.row(key, line)
    if earlier is not None:
        # Identical interactions can be real (two of a product in one order, in one second): counted and
        # reported once, at the end. A repeated item or user id is a mistake worth each line.
        if kind != "interactions":
            column = _ID_COLUMN[kind]
            report.add(warning("duplicate-id", f"{column} repeats line {earlier}; keep one row per id", line))
        return
    if kind != "interactions":
        return
    if user := value("USER_ID"):
        tally.user(user)
    if item := value("ITEM_ID"):
        tally.item(item)
    event_type = value("EVENT_TYPE")
    if event_type is not None:
        tally.event_type(event_type)
    stamp = value("TIMESTAMP") or ""
    if stamp.lstrip("-").isdigit() and int(stamp) < MILLISECONDS_FROM:
        tally.timestamp(int(stamp))


def _check_dataset(report: Report, schema: DatasetSchema, tally: Tally) -> None:
    stats = report.stats
    stats.rows, stats.duplicates = tally.rows, tally.duplicates
    if tally.rows == 0:
        report.add(error("no-rows", "the file has a header but no data rows"))
    if schema.kind != "interactions":
        if schema.kind == "items":
            stats.items = tally.unique_rows
        else:
            stats.users = tally.unique_rows
        return
    if tally.first_duplicate is not None:
        line, earlier = tally.first_duplicate
        report.add(
            warning(
                "duplicate-row",
                f"{tally.duplicates:,} rows repeat an earlier row exactly (same user, item, type, second), "
                f"the first on line {line} (as line {earlier}); real events can coincide (two of a product "
                "in one order) but copies inflate training data: remove copies before importing",
            )
        )
    stats.users, stats.active_users = tally.users()
    stats.items = tally.items()
    stats.event_types = tally.event_types if any(f.name == "EVENT_TYPE" for f in schema.fields) else None
    stats.first_time, stats.last_time = tally.first_time, tally.last_time
    for issue in _minimums(tally.unique_rows, stats.active_users):
        report.add(issue)
    optional = len(
        [f for f in schema.fields if f.name not in ("USER_ID", "ITEM_ID", "TIMESTAMP", "IMPRESSION")]
    )
    if len(tally.event_types) + optional > _MAX_EVENT_TYPES_AND_FIELDS:
        report.add(
            warning(
                "event-types",
                f"{len(tally.event_types)} event types and {optional} optional fields: Personalize allows "
                f"at most {_MAX_EVENT_TYPES_AND_FIELDS} together; merge event types or drop fields",
            )
        )


def _minimums(interactions: int, active_users: int) -> list[Issue]:
    issues = []
    if interactions < PERSONALIZE_MIN_INTERACTIONS:
        issues.append(
            error(
                "min-interactions",
                f"{interactions:,} unique interactions; Personalize needs at least "
                f"{PERSONALIZE_MIN_INTERACTIONS:,} to train: export a longer history",
            )
        )
    if active_users < PERSONALIZE_MIN_ACTIVE_USERS:
        issues.append(
            error(
                "min-users",
                f"{active_users:,} users with {PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS}+ interactions; "
                f"Personalize needs at least {PERSONALIZE_MIN_ACTIVE_USERS}: export a longer history or more "
                "users' events",
            )
        )
    return issues
