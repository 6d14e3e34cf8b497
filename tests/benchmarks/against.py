"""A benchmark run on a git ref and on the working tree, back to back, every figure side by side (issue 24).

    .venv/bin/python -m tests.benchmarks.against REF --result scale.json -- -m tests.benchmarks.scale
    make bench-scale AGAINST=v0.1.0       (make bench, bench-scale, bench-concurrent and eval take AGAINST)

The ref is built beside the working tree (tests/benchmarks/ref_tree.py: a detached worktree, its own venv).
The benchmark command (python arguments after ``--``) runs first in the ref's tree with the ref's venv, then
in the working tree, one after the other on the same machine, each writing ``--result`` (a JSON file) into
the same ``--out`` folder (default bench-results/, so generated archives are shared): the ref's is kept as
``<name>.<ref>.json``. Then every number found in both files is printed, with the ratio working tree / ref:
on a shared machine a figure moves from day to day, a ratio measured in one run much less. The machine's
load average is printed before each run, and each side's ``provenance`` (tests/benchmarks/provenance.py: git
describe, commit, times, load average at both ends) above the table, so a figure copied from it says which
ref and run it came from.

``--harness current`` (default) measures the ref with the working tree's benchmark code (its tests/ copied
over the ref's: same archive shapes, same measurements, only the product differs); ``--harness ref`` runs
the ref's own benchmark code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.benchmarks import provenance
from tests.benchmarks.ref_tree import ROOT, RefTree, ref_tree


def _say(message: str) -> None:
    print(f"[against {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def numbers(document: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a JSON document, by its path (``rows.0.records_per_second``); booleans are not, nor
    the ``provenance`` (its load averages are the machine's, not figures to compare)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if not prefix and key == provenance.KEY:
                continue
            yield from numbers(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from numbers(value, f"{prefix}.{index}" if prefix else str(index))
    elif isinstance(document, int | float) and not isinstance(document, bool):
        yield prefix, float(document)


def side_by_side(ref: str, before: Any, after: Any) -> str:
    """A table of every number present in both documents: the ref's, the working tree's, their ratio."""
    mine = dict(numbers(after))
    lines = [f"| figure | {ref} | working tree | working tree / {ref} |", "|---|---:|---:|---:|"]
    for path, old in numbers(before):
        if path not in mine:
            continue
        new = mine[path]
        ratio = f"{new / old:.3f}" if old else "-"
        lines.append(f"| {path} | {old:g} | {new:g} | {ratio} |")
    return "\n".join(lines)


def _run(python: Path, cwd: Path, command: list[str], env: dict[str, str]) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    _say(f"{cwd}: python {' '.join(command)}  (load average {load})")
    subprocess.run([str(python), *command], cwd=cwd, env=env, check=True)


def _with_out(command: list[str], out: Path) -> list[str]:
    return command if "--out" in command else [*command, "--out", str(out)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, command = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.against", description=__doc__.split("\n")[0]
    )
    parser.add_argument("ref", help="a tag, branch or commit (v0.1.0)")
    parser.add_argument("--result", required=True, help="the JSON file the benchmark writes in --out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--harness", choices=("current", "ref"), default="current")
    args = parser.parse_args(own)
    if not command:
        parser.error("give the benchmark's python arguments after --, e.g. -- -m tests.benchmarks.scale")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = _with_out(command, out)
    result = out / args.result
    kept = out / f"{Path(args.result).stem}.{args.ref.replace('/', '-')}.json"
    with ref_tree(args.ref, harness_from=ROOT if args.harness == "current" else None) as tree:
        _run(tree.python, tree.root, command, tree.env())
        shutil.move(result, kept)
        _run(Path(sys.executable), ROOT, command, dict(os.environ))
        report(tree, kept, result)
    return 0


def report(tree: RefTree, kept: Path, result: Path) -> None:
    before = json.loads(kept.read_text(encoding="utf-8"))
    after = json.loads(result.read_text(encoding="utf-8"))
    print(
        f"\n{tree.ref} ({tree.commit[:12]}) against the working tree, run back to back; {kept} and {result}"
    )
    print(f"{tree.ref}: {provenance.label(before)}")
    print(f"working tree: {provenance.label(after)}")
    print(side_by_side(tree.ref, before, after))


if __name__ == "__main__":
    raise SystemExit(main())
