"""The figures of the reliability runs, kept in one JSON file per pytest session.

Each full run calls ``report(tally)``: one entry in ``$PUE_RELIABILITY_FIGURES`` (default
``reliability-figures.json`` in the system temp directory). ``tests/functional/conftest.py`` starts the file
afresh with each session and prints it as a table at the end (``make stress``); docs/reliability.md's table
is made from it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from tests.functional.reliability_support import Tally

FIGURES_ENV: Final = "PUE_RELIABILITY_FIGURES"
_lock = threading.Lock()


def figures_path() -> Path:
    default = Path(tempfile.gettempdir()) / "reliability-figures.json"
    return Path(os.environ.get(FIGURES_ENV) or default)


def report(tally: Tally, **extra: Mapping[str, int] | int | str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "run": tally.name,
        "records": tally.records,
        "invocations": tally.invocations,
        "faults": tally.faults,
        "lost": tally.lost,
        "duplicates": tally.duplicates,
        "leaks": tally.leaks,
        "tracked": tally.tracked,
        "dead_lettered": tally.dead_lettered,
        "filtered": tally.filtered,
        **extra,
    }
    with _lock:
        path = figures_path()
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = []
        existing.append(entry)
        path.write_text(json.dumps(existing, indent=1, ensure_ascii=False), encoding="utf-8")
    return entry
