"""``pue export --engine spark`` writes exactly what the single-process export writes, whatever goes wrong.

One SparkSession (local mode, 2 threads, a failed task tried at most twice: ``local[2,2]``) for this module,
and every test here in one xdist group, so a parallel ``make test`` starts one JVM for them. The archive is
tests/support/export_archive.py: spec samples, anonymous-then-identified visitors, product lists, repeats,
bad lines, a gzip file with a corrupt member.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.cli import main
from consumers.onboarding.export.exporter import ExportOptions, _Export
from consumers.onboarding.export.reader import CORRUPT_GZIP, VANISHED, LineReader
from consumers.onboarding.spark.job import spark_export
from consumers.onboarding.spark.storage import LocalStorage
from consumers.stream.event_map import EventMap
from tests.support.export_archive import EXPORT_ARGS, build_archive

pytest.importorskip("pyspark")  # a dev dependency: missing only outside `make install`
pytestmark = pytest.mark.xdist_group("spark")

DATASETS = ("interactions", "users", "items")
OPTIONS: dict[str, Any] = {
    "user_fields": ("plan", "age"),
    "item_fields": ("category", "price"),
    "metadata": ("coupon",),
    "event_value": True,
}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from consumers.bootstrap.spark_export import spark_session

    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        if os.environ.get("PUE_SKIP_SPARK") == "1" and not os.environ.get("CI"):
            pytest.skip("PUE_SKIP_SPARK=1 and no java")
        pytest.fail("Spark needs a Java runtime: make java (tests/support/ensure_java.sh) installs one")

    session, _ = spark_session(
        "local[2,2]",
        {
            "spark.ui.enabled": "false",  # no web server in tests
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.default.parallelism": "2",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def runs(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both engines through the ``pue export`` command, on the same archive."""
    root = tmp_path_factory.mktemp("archive")
    archive = build_archive(root)
    summaries = {}
    for engine in ("single", "spark"):
        out = root / engine
        argv = ["export", str(archive), "--out", str(out), *EXPORT_ARGS, "--engine", engine, "--json"]
        stdout = io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stdout", stdout)
            assert main(argv) == 0
        summaries[engine] = json.loads(stdout.getvalue())
    return {"archive": archive, "root": root, "summaries": summaries}


def rows_of(path: Path) -> tuple[str, list[str]]:
    """(header, sorted data rows) of a CSV file, or of every part file in a folder (each has a header)."""
    files = sorted(path.glob("part-*.csv")) if path.is_dir() else [path]
    headers, rows = set(), []
    for file in files:
        header, *data = file.read_text(encoding="utf-8").splitlines()
        headers.add(header)
        rows.extend(data)
    assert len(headers) == 1, headers
    return headers.pop(), sorted(rows)


def letters_of(path: Path) -> list[str]:
    files = sorted(path.glob("part-*.jsonl")) if path.is_dir() else [path]
    return sorted(line for file in files for line in file.read_text(encoding="utf-8").splitlines())


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in summary.items() if key not in ("seconds", "outputs")}


def test_both_engines_write_the_same_datasets_schemas_dead_letters_and_summary(
    runs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    single, spark = runs["root"] / "single", runs["root"] / "spark"
    for kind in DATASETS:
        header, rows = rows_of(single / f"{kind}.csv")
        assert (header, rows) == rows_of(spark / kind), kind
        assert rows, kind
        schema = (single / f"{kind}.schema.json").read_text()
        assert (spark / f"{kind}.schema.json").read_text() == schema
    assert letters_of(spark / "dead_letters") == letters_of(single / "dead_letters.jsonl")
    # pue validate checks a part as it checks the single file, against the schema next to the folder
    (part,) = (spark / "interactions").glob("part-*.csv")
    reports = []
    for argv in (
        [str(single / "interactions.csv")],
        [str(part), "--schema", str(spark / "interactions.schema.json")],
    ):
        status = main(["validate", *argv])
        text = capsys.readouterr().out
        reports.append((status, text[text.index("Summary") :]))  # what follows names no file or line
    assert reports[0] == reports[1] and reports[0][0] in (0, 1)
    summary = runs["summaries"]["single"]
    assert comparable(runs["summaries"]["spark"]) == comparable(summary)
    assert json.loads((spark / "summary.json").read_text())["messages"] == summary["messages"]
    # The archive exercises what it claims to: every kind of outcome is there, in both.
    assert summary["dead_letter_reasons"][CORRUPT_GZIP] == 1
    assert set(summary["dead_letter_reasons"]) >= {"no messageId", "line longer than 1 MB"}
    assert summary["linked"] > 0 and summary["duplicates"] >= 1 and summary["link_conflicts"] >= 1
    assert summary["dropped"]["anonymous, never identified"] > 0
    assert summary["values_too_long"] >= 2 and summary["skipped_files"] == 1


class _FailAfter(io.RawIOBase):
    """A file that breaks after its first bytes: a task that dies part way through its input."""

    def __init__(self, raw: io.BufferedReader, limit: int) -> None:
        self._raw, self._left = raw, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            raise RuntimeError("deliberate failure of a first task attempt")
        data = self._raw.read(min(len(buffer), self._left))
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


class FaultyStorage(LocalStorage):
    """Real local files, two faults: one file is deleted right after the listing (an S3 object a lifecycle
    rule removed mid-export), and the first attempt of the task reading ``fail_once`` dies part way, after
    it has produced records; a marker file records that it did."""

    def __init__(self, vanish: Path, fail_once: Path, markers: Path) -> None:
        self.vanish, self.fail_once, self.markers = vanish, str(fail_once), markers

    def list_files(self, locations: list[str]) -> tuple[list[str], int]:
        listed = super().list_files(locations)
        self.vanish.unlink()
        return listed

    def open(self, location: str) -> io.BufferedReader:
        from pyspark import TaskContext

        raw = super().open(location)
        context = TaskContext.get()
        if location == self.fail_once and context is not None and context.attemptNumber() == 0:
            (self.markers / f"stage{context.stageId()}-task{context.partitionId()}").touch()
            return io.BufferedReader(_FailAfter(raw, 2048), buffer_size=512)
        return raw


def test_a_vanished_object_and_a_retried_task_count_once_and_a_rerun_overwrites(
    spark: Any, runs: dict[str, Any], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(runs["archive"], archive)
    extra = archive / "1793664000000" / "e.jsonl"
    extra.write_text((archive / "1793491200000" / "b.json").read_text())
    failing = archive / "1793491200000" / "a.gz"
    out = tmp_path / "spark"
    shutil.copytree(runs["root"] / "spark", out)  # the first run's output, overwritten by this one
    stale = out / "interactions" / "part-00099.csv"
    stale.write_text("USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP\nstale,row,x,1\n")
    markers = tmp_path / "markers"
    markers.mkdir()
    options = ExportOptions(EventMap.default(), **OPTIONS)
    listed = sorted(p for p in archive.rglob("*") if p.suffix in (".gz", ".json", ".jsonl"))

    summary = spark_export(spark, [str(archive)], str(out), options, FaultyStorage(extra, failing, markers))

    assert list(markers.iterdir()), "the first attempt did not fail: the test proves nothing"
    # The single-process export meets the same vanished file: listed, then gone.
    assert not extra.exists()
    reader = LineReader(listed)
    single = _Export(tmp_path / "single", ExportOptions(EventMap.default(), scratch_dir=tmp_path, **OPTIONS))
    single.consume(reader, None)
    single.finish()
    expected = single.summary.to_json()
    assert expected["dead_letter_reasons"][VANISHED] == 1
    assert comparable(summary.to_json()) == comparable(expected | {"files": 5, "skipped_files": 1})
    assert not stale.exists()
    for kind in DATASETS:  # byte for byte what the first, undisturbed run wrote: deterministic parts
        first = sorted((runs["root"] / "spark" / kind).iterdir())
        assert [p.name for p in first] == sorted(p.name for p in (out / kind).iterdir())
        assert all((out / kind / p.name).read_bytes() == p.read_bytes() for p in first)
