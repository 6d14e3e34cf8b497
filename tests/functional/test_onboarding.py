"""Onboarding, end to end through the `pue` CLI: a Segment archive -> pue export -> pue validate.

The exported interactions must be what the stream tracks for the same messages: both go through the same
decode, event map and normalize code, and both drop repeats by event id.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.stream import build_pipeline
from consumers.cli import main
from consumers.config.settings import Settings
from consumers.runners.replay import events_from, replay
from consumers.runners.sample_data import clickstream

Row = tuple[str, str, str, int]


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    messages = clickstream(users=120, seed=7)
    return messages + messages[:50]  # Segment retried some deliveries: the same messageIds again


def write_archive(root: Path, messages: list[dict[str, Any]]) -> Path:
    """Two gzipped JSON-lines files laid out as a Segment S3 archive (segment-logs/SOURCE/DAY/file.gz)."""
    half = len(messages) // 2
    for day, part in (("1793491200000", messages[:half]), ("1793577600000", messages[half:])):
        path = root / "segment-logs" / "src-1" / day / "part-0.gz"
        path.parent.mkdir(parents=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(m) + "\n" for m in part)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def exported(path: Path) -> Counter[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        return Counter(
            (r["USER_ID"], r["ITEM_ID"], r["EVENT_TYPE"], int(r["TIMESTAMP"])) for r in csv.DictReader(handle)
        )


def tracked_by_the_stream(history: list[dict[str, Any]], tmp_path: Path) -> list[tuple[str | None, str, Row]]:
    """(user id or None, session id, row) for every interaction the Kinesis handler stored locally."""
    source = tmp_path / "replay.jsonl"
    source.write_text("".join(json.dumps(m) + "\n" for m in history), encoding="utf-8")
    pipeline, wiring = build_pipeline(Settings(backend="local", state_dir=tmp_path / "state"))
    try:
        counts = replay(events_from(source, 100), pipeline)
    finally:
        pipeline.close()
    assert counts.failed == 0
    assert wiring.local is not None
    with wiring.local.store.transaction(write=False) as conn:
        stored = conn.execute(
            "SELECT user_id, session_id, item_id, event_type, sent_ts FROM interactions_readable"
        )
        return [
            (user, session, (user or "", item, kind, int(ts // 1)))
            for user, session, item, kind, ts in stored
        ]


def test_an_exported_history_validates(
    history: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = write_archive(tmp_path / "archive", history)
    out = tmp_path / "datasets"
    code, text = run(capsys, "export", str(archive), "--out", str(out), "--user-fields", "plan", "--json")
    summary = json.loads(text)
    assert code == 0
    assert summary["files"] == 2
    assert summary["messages"] == len(history)
    assert summary["messages"] == summary["tracked"] + summary["filtered"] + summary["dead_lettered"]
    assert summary["duplicates"] > 0
    assert summary["problems"] == []

    for name in ("interactions", "items", "users"):
        code, report = run(capsys, "validate", str(out / f"{name}.csv"))
        assert code == 0, report
        assert f"checked against {out / f'{name}.schema.json'}" in report
        assert "0 errors" in report


def test_exported_interactions_are_what_the_stream_tracks(
    history: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "history.jsonl.gz"
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(m) + "\n" for m in history)
    stream = tracked_by_the_stream(history, tmp_path)

    # The stream attributes nothing: an anonymous event keeps its anonymousId as session, with no user.
    code, _ = run(capsys, "export", str(source), "--out", str(tmp_path / "plain"), "--no-identity-linking")
    assert code == 0
    identified = Counter(row for user, _, row in stream if user is not None)
    assert exported(tmp_path / "plain" / "interactions.csv") == identified

    # With linking, export adds the anonymous events a call carrying both ids ties to a user (first link).
    links: dict[str, str] = {}
    for message in history:
        if message.get("anonymousId") and message.get("userId"):
            links.setdefault(message["anonymousId"], message["userId"])
    attributed = Counter(
        (links[session], *row[1:]) for user, session, row in stream if user is None and session in links
    )
    code, _ = run(capsys, "export", str(source), "--out", str(tmp_path / "linked"))
    assert code == 0
    assert sum(attributed.values()) > 0
    assert exported(tmp_path / "linked" / "interactions.csv") == identified + attributed


def test_a_bad_dataset_fails_with_line_numbered_fixes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"]
    rows += [f"u{k % 10},i{k % 7},view,{1730458800000 + k}" for k in range(1200)]  # milliseconds
    rows[5] = f"u1,{'x' * 300},view,1730458800"
    path = tmp_path / "interactions.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    code, report = run(capsys, "validate", str(path), "--max-errors", "3")

    assert code == 1
    assert "line 2: TIMESTAMP looks like milliseconds (1730458800000); divide by 1000" in report
    assert "line 6: ITEM_ID is 300 characters long; Personalize ids are at most 256: shorten it" in report
    assert "10 users with 2+ interactions; Personalize needs at least 25" in report
    assert "more not shown (error timestamp-ms: 1,19" in report
    assert "REJECTED" in report


def test_unreadable_inputs_exit_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert main(["validate", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_s3_locations_need_the_spark_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "s3://bucket/segment-logs/", "--out", str(tmp_path / "out")]) == 2
    assert "s3://bucket/segment-logs/: S3 locations need --engine spark" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
