"""Where a benchmark's figures came from, written into its result file (issue 24).

    run = provenance.begin()
    ...
    provenance.write(args.out / "scale.json", {"rows": rows}, run)

A figure quoted without its code and its machine cannot be compared with anything: the same batch measured
0.84 s one week and 1.21 s the next on this shared 2-core machine. So every ``bench-results/*.json`` carries
a ``provenance`` object: ``git describe --tags --always --dirty`` of the tree measured, its full commit,
whether the product code (anything outside ``tests/``) differed from that commit, when the run started and
ended (UTC), the load average at both ends, the core count and the command. ``label`` turns it into the line
a README figure quotes, and tests/benchmarks/against.py prints it for both sides of a comparison.

Outside ``tests/`` matters because ``against.py --harness current`` copies the working tree's tests over a
ref's checkout: that tree is ``-dirty`` by design while its product code is exactly the ref's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEY = "provenance"  # the result's key; against.py leaves it out of the side-by-side table


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass(frozen=True)
class Run:
    """The start of a measured run: its time and the machine's load then."""

    started_at: str = field(default_factory=_now)
    load_at_start: list[float] = field(default_factory=_load)


def begin() -> Run:
    return Run()


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH, as the Makefile uses it
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_state(root: Path = ROOT) -> dict[str, Any]:
    """The measured tree's git state; ``None`` fields when ``root`` is no git checkout (an unpacked sdist)."""
    changed = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)tests")
    return {
        "git": _git(root, "describe", "--tags", "--always", "--dirty"),
        "commit": _git(root, "rev-parse", "HEAD"),
        "product_code_modified": None if changed is None else bool(changed),
    }


def stamp(run: Run, root: Path = ROOT) -> dict[str, Any]:
    """The ``provenance`` object for a run that ends now."""
    return {
        **code_state(root),
        "started_at": run.started_at,
        "ended_at": _now(),
        "load_average_at_start": run.load_at_start,
        "load_average_at_end": _load(),
        "cores": os.cpu_count(),
        "command": " ".join(["python", *sys.argv]),
    }


def write(path: Path, result: dict[str, Any], run: Run, root: Path = ROOT) -> None:
    """``result`` as indented JSON in ``path``, with its ``provenance``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**result, KEY: stamp(run, root)}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")


def label(document: Any) -> str:
    """One line naming the code, the time and the load a result file was measured on."""
    found = document.get(KEY) if isinstance(document, dict) else None
    if not isinstance(found, dict):
        return "no provenance recorded (written by a benchmark that predates it)"
    git = found.get("git") or "not a git checkout"
    commit = (found.get("commit") or "")[:12]
    modified = found.get("product_code_modified")
    code = f"{git} ({commit})" if commit else git
    if modified:
        code += ", product code modified from that commit"
    start, end = found.get("load_average_at_start"), found.get("load_average_at_end")
    return (
        f"{code}; {found.get('started_at')} to {found.get('ended_at')}; "
        f"load average {_loads(start)} at start, {_loads(end)} at end, {found.get('cores')} cores"
    )


def _loads(values: Any) -> str:
    if not isinstance(values, list):
        return "?"
    return "/".join(f"{v:.1f}" for v in values)
