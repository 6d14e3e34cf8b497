"""Shared fixtures: a local pipeline on a fresh state folder; and the reliability figures
(``tests.functional.reliability_figures``): a fresh file per session, and a table
at the end of the terminal report, which is what ``make stress`` shows.

Each session writes its own file (a new temporary one unless ``PUE_RELIABILITY_FIGURES`` names one): several
pytest sessions share the machine, and one must not wipe another's figures.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.pipeline import Pipeline
from destinations.local import LocalBackend
from tests.functional.reliability_figures import FIGURES_ENV, figures_path


@pytest.fixture
def local_pipeline(tmp_path: Path) -> Iterator[tuple[Pipeline, LocalBackend]]:
    """The stream pipeline on the local backend, in ``tmp_path/state``; closed after the test."""
    settings = dataclasses.replace(Settings(), state_dir=tmp_path / "state")
    pipeline, wiring = build_pipeline(settings, engagement=EngagementSettings())
    assert wiring.local is not None
    try:
        yield pipeline, wiring.local
    finally:
        pipeline.close()
        wiring.local.close()


COLUMNS = ("run", "records", "invocations", "faults", "lost", "duplicates", "leaks")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")  # an xdist worker: the controller owns the file


def pytest_configure(config: pytest.Config) -> None:
    # Before xdist starts its workers, which inherit the environment and so write to the same file.
    if _is_worker(config):
        return
    if os.environ.get(FIGURES_ENV):
        figures_path().unlink(missing_ok=True)
    else:
        os.environ[FIGURES_ENV] = str(Path(tempfile.mkdtemp(prefix="pue-reliability-")) / "figures.json")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    path = figures_path()
    if _is_worker(config) or not path.exists():
        return
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    terminalreporter.section("reliability figures")
    terminalreporter.write_line(" | ".join(COLUMNS))
    for entry in entries:
        terminalreporter.write_line(" | ".join(str(entry.get(column, "")) for column in COLUMNS))
        if entry.get("faults_by_kind"):
            terminalreporter.write_line("    faults by kind: " + _kinds(entry["faults_by_kind"]))
    totals = {column: sum(int(e.get(column, 0)) for e in entries) for column in COLUMNS[1:]}
    terminalreporter.write_line("total | " + " | ".join(str(totals[c]) for c in COLUMNS[1:]))
    all_kinds: dict[str, int] = {}
    for entry in entries:
        for kind, count in (entry.get("faults_by_kind") or {}).items():
            all_kinds[kind] = all_kinds.get(kind, 0) + int(count)
    if all_kinds:
        terminalreporter.write_line("    faults by kind: " + _kinds(all_kinds))
    terminalreporter.write_line(f"(written to {path})")


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind}={count}" for kind, count in counts.items())
