"""make bench* AGAINST=<ref>: the side-by-side table (tests/benchmarks/against.py) and the ref check of
tests/benchmarks/ref_tree.py (building a ref is exercised by running it: it needs pip and a minute)."""

from __future__ import annotations

import pytest

from tests.benchmarks.against import numbers, side_by_side
from tests.benchmarks.ref_tree import resolve


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
