"""pue validate over whole files: headers, rows, duplicates, minimums, the report and its cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumers.onboarding.validate.checker import UsageError, validate_file
from consumers.onboarding.validate.report import Report

HEADER = "USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"
T = 1793534400


def good_rows(users: int = 40, per_user: int = 25) -> list[str]:
    return [f"u{u},i{(u + k) % 50},view,{T + k}" for u in range(users) for k in range(per_user)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def found(report: Report) -> list[tuple[str, str, int | None]]:
    return [(i.severity, i.rule, i.line) for i in report.shown]


def test_a_good_interactions_file_passes_with_a_summary(tmp_path: Path) -> None:
    report = validate_file(write(tmp_path / "interactions.csv", [HEADER, *good_rows()]))
    assert found(report) == []
    assert not report.rejected
    stats = report.stats
    assert (stats.rows, stats.users, stats.active_users, stats.items) == (1000, 40, 40, 50)
    assert stats.event_types == {"view": 1000}
    assert (stats.first_time, stats.last_time) == (T, T + 24)
    text = report.render()
    assert "time range    2026-11-01T12:00:00Z .. 2026-11-01T12:00:24Z" in text
    assert text.endswith("OK (0 errors, 0 warnings)\n")


def test_too_few_interactions_and_active_users_reject_the_dataset(tmp_path: Path) -> None:
    rows = good_rows(users=20, per_user=5) + [f"lonely{k},i1,view,{T}" for k in range(30)]
    report = validate_file(write(tmp_path / "interactions.csv", [HEADER, *rows]))
    assert found(report) == [("error", "min-interactions", None), ("error", "min-users", None)]
    assert report.rejected
    assert "130 unique interactions; Personalize needs at least 1,000" in report.shown[0].message
    assert "20 users with 2+ interactions; Personalize needs at least 25" in report.shown[1].message


def test_header_problems_against_a_schema_file_next_to_the_csv(tmp_path: Path) -> None:
    schema = {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
        ],
        "version": "1.0",
    }
    (tmp_path / "interactions.schema.json").write_text(json.dumps(schema))
    write(
        tmp_path / "interactions.csv",
        ["ITEM_ID,USER_ID,TIMESTAMP", *[f"i{k},u{k % 30},{T}" for k in range(1000)]],
    )
    report = validate_file(tmp_path / "interactions.csv")
    assert report.schema_source == str(tmp_path / "interactions.schema.json")
    assert found(report) == [("error", "header-order", 1)]
    assert "USER_ID,ITEM_ID,TIMESTAMP" in report.shown[0].message

    write(tmp_path / "interactions.csv", ["USER_ID,TIMESTAMP,DEVICE", "u1,1,ios"])
    rules = {i.rule for i in validate_file(tmp_path / "interactions.csv").shown if i.line == 1}
    assert rules == {"header-missing", "header-extra"}


def test_quoted_headers_bom_empty_rows_duplicates_and_bad_csv(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b'\xef\xbb\xbf"ITEM_ID","GENRE"\ni1,horror|comedy\n,\ni1,drama\ni2,"unterminated\n')
    report = validate_file(path)
    assert report.kind == "items"
    assert found(report) == [
        ("warning", "bom", 1),
        ("error", "header-quotes", 1),
        ("error", "empty-row", 3),
        ("warning", "duplicate-id", 4),
        ("error", "csv", 5),
    ]
    assert "ITEM_ID repeats line 2; keep one row per id" in report.render()
    assert "not valid CSV (unexpected end of data)" in report.render()
    assert report.stats.items == 1


def test_only_the_first_n_issues_are_listed_the_rest_counted(tmp_path: Path) -> None:
    rows = [f"u{k % 40},i1,view,{(T + k) * 1000}" for k in range(1200)]
    report = validate_file(write(tmp_path / "interactions.csv", [HEADER, *rows]), max_shown=3)
    line_errors = [i for i in report.shown if i.line is not None]
    assert [i.line for i in line_errors] == [2, 3, 4]
    assert report.errors == 1200
    assert report.hidden == {"error timestamp-ms": 1197}
    assert "... and 1,197 more not shown (error timestamp-ms: 1,197)" in report.render()
    assert report.to_json()["not_shown"] == {"error timestamp-ms": 1197}


def test_a_file_that_is_not_utf8_is_rejected_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes(b"USER_ID,CITY\nu1,M\xfcnchen\n")
    report = validate_file(path)
    assert [i.rule for i in report.shown] == ["encoding"]
    assert "save it as UTF-8" in report.shown[0].message


def test_nothing_to_check_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        validate_file(tmp_path / "missing.csv")
    with pytest.raises(UsageError, match="pass --kind"):
        validate_file(write(tmp_path / "data.csv", ["A,B", "1,2"]))
    assert validate_file(write(tmp_path / "data.csv", ["A,B", "1,2"]), kind="items").kind == "items"


def test_identical_interactions_are_counted_and_reported_once(tmp_path: Path) -> None:
    rows = good_rows()
    report = validate_file(write(tmp_path / "interactions.csv", [HEADER, *rows, rows[0], rows[0], rows[5]]))
    assert found(report) == [("warning", "duplicate-row", None)]
    assert "3 rows repeat an earlier row exactly" in report.shown[0].message
    assert "the first on line 1002 (as line 2)" in report.shown[0].message
    assert (report.stats.rows, report.stats.duplicates) == (1003, 3)
    assert not report.rejected
