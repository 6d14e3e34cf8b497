"""make bench* AGAINST=<ref>: the side-by-side table (tests/benchmarks/against.py), the ref check of
tests/benchmarks/ref_tree.py (building a ref is exercised by running it: it needs pip and a minute), and
make eval's last-tag row run through a ref tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks import eval_last_tag
from tests.benchmarks.against import numbers, side_by_side
from tests.benchmarks.eval_data import Event, Split
from tests.benchmarks.ref_tree import RefTree, resolve


def test_every_number_of_a_result_is_found_by_its_path() -> None:
    document = {"rows": [{"rate": 10, "ok": True, "name": "x"}], "p99_ms": 4.5, "load": [1.0, 2]}
    assert dict(numbers(document)) == {"rows.0.rate": 10.0, "p99_ms": 4.5, "load.0": 1.0, "load.1": 2.0}


def test_the_table_shows_both_figures_and_their_ratio_for_figures_in_both() -> None:
    before = {"rate": 8000, "p99_ms": 5.0, "only_before": 1, "zero": 0}
    after = {"rate": 10000, "p99_ms": 4.0, "only_after": 2, "zero": 0}
    lines = side_by_side("v0.1.0", before, after).splitlines()
    assert lines[0] == "| figure | v0.1.0 | working tree | working tree / v0.1.0 |"
    assert lines[2:] == [
        "| rate | 8000 | 10000 | 1.250 |",
        "| p99_ms | 5 | 4 | 0.800 |",
        "| zero | 0 | 0 | - |",
    ]


def test_a_ref_that_does_not_exist_is_refused_before_anything_is_built() -> None:
    with pytest.raises(SystemExit, match="not a commit, branch or tag"):
        resolve("no-such-ref-3b9e")


def test_the_last_tag_row_runs_the_child_on_the_ref_trees_own_interpreter(tmp_path: Path) -> None:
    """make eval's release row goes through ref_tree's RefTree: its venv's python, its environment."""
    root = tmp_path / "ref"
    (root / ".venv" / "bin").mkdir(parents=True)
    calls = tmp_path / "calls.json"
    python = root / ".venv" / "bin" / "python"
    # a stand-in interpreter: records its argv and environment, answers one list for the one target
    python.write_text(
        "#!/bin/sh\n"
        f'printf \'{{"argv": "%s", "venv": "%s", "path": "%s"}}\' "$*" "$VIRTUAL_ENV" "$PATH" > {calls}\n'
        'printf \'{"u1": ["b", "c"]}\' > "$4"\n'
    )
    python.chmod(0o755)
    split = Split(train=[Event("u1", "a", 1.0, "Product Viewed")], targets={"u1": "b"}, now=1.0)

    lists = eval_last_tag.ranked_lists(RefTree("v9.9.9", "0" * 40, root, python), split, 10)

    assert lists == {"u1": ["b", "c"]}
    call = json.loads(calls.read_text())
    child, tree, payload, _ = call["argv"].split(" ")
    assert child == str(eval_last_tag.CHILD)
    assert tree == str(root)
    assert payload.endswith("split.json")
    assert call["venv"] == str(root / ".venv")
    assert call["path"].startswith(f"{root / '.venv' / 'bin'}:")
