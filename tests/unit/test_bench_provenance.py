"""Benchmark results say which code and which run they came from (tests/benchmarks/provenance.py), and
``make bench* AGAINST=`` prints that for both sides (issue 24: "the README's figures say which ref and run
they came from")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.benchmarks import provenance
from tests.benchmarks.against import numbers, report
from tests.benchmarks.ref_tree import RefTree


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=pue-test", "-c", "user.email=pue-test", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with a product file and a test file, committed and tagged v9.9.9."""
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "product.py").write_text("X = 1\n")
    (root / "tests" / "bench.py").write_text("Y = 1\n")
    _git(root, "init", "--quiet")
    _git(root, "add", ".")
    _git(root, "commit", "--quiet", "-m", "first")
    _git(root, "tag", "v9.9.9")
    return root


def test_a_clean_tagged_checkout_is_named_by_its_tag_and_commit(repo: Path) -> None:
    state = provenance.code_state(repo)
    assert state == {
        "git": "v9.9.9",
        "commit": _git(repo, "rev-parse", "HEAD"),
        "product_code_modified": False,
    }


def test_changed_tests_make_the_tree_dirty_but_not_the_product_code(repo: Path) -> None:
    # what against.py --harness current does to a ref's checkout: its tests/ replaced by ours
    (repo / "tests" / "bench.py").write_text("Y = 2\n")
    state = provenance.code_state(repo)
    assert state["git"] == "v9.9.9-dirty"
    assert state["product_code_modified"] is False


def test_a_changed_product_file_is_recorded(repo: Path) -> None:
    (repo / "product.py").write_text("X = 2\n")
    assert provenance.code_state(repo)["product_code_modified"] is True
    (repo / "product.py").write_text("X = 1\n")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", "second")
    assert provenance.code_state(repo)["git"].startswith("v9.9.9-1-g")


def test_a_folder_outside_git_is_said_to_be_so(tmp_path: Path) -> None:
    state = provenance.code_state(tmp_path)
    assert state == {"git": None, "commit": None, "product_code_modified": None}
    document = {provenance.KEY: {**state, "started_at": "a", "ended_at": "b"}}
    assert provenance.label(document).startswith("not a git checkout; a to b;")


def test_the_result_file_carries_the_result_and_its_provenance(repo: Path, tmp_path: Path) -> None:
    run = provenance.begin()
    out = tmp_path / "out" / "scale.json"
    provenance.write(out, {"rows": [{"rate": 10}]}, run, root=repo)
    written = json.loads(out.read_text())
    stamp = written.pop(provenance.KEY)
    assert written == {"rows": [{"rate": 10}]}
    assert stamp["git"] == "v9.9.9"
    assert stamp["started_at"] == run.started_at <= stamp["ended_at"]
    assert len(stamp["load_average_at_start"]) == len(stamp["load_average_at_end"]) == 3
    assert stamp["command"].startswith("python ")
    label = provenance.label(written | {provenance.KEY: stamp})
    assert label.startswith(f"v9.9.9 ({stamp['commit'][:12]}); {run.started_at} to ")
    assert f"{stamp['cores']} cores" in label


def test_against_leaves_the_provenance_out_of_the_figures_and_prints_both_labels(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = provenance.begin()
    kept, result = tmp_path / "scale.v9.9.9.json", tmp_path / "scale.json"
    provenance.write(kept, {"rate": 8000}, run, root=repo)
    (repo / "product.py").write_text("X = 3\n")
    provenance.write(result, {"rate": 10000}, run, root=repo)
    assert dict(numbers(json.loads(result.read_text()))) == {"rate": 10000.0}

    commit = _git(repo, "rev-parse", "HEAD")
    report(RefTree("v9.9.9", commit, repo, repo / "python"), kept, result)
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith(f"v9.9.9: v9.9.9 ({commit[:12]}); ")
    assert lines[3].startswith(f"working tree: v9.9.9-dirty ({commit[:12]}), product code modified")
    assert lines[4:] == [
        "| figure | v9.9.9 | working tree | working tree / v9.9.9 |",
        "|---|---:|---:|---:|",
        "| rate | 8000 | 10000 | 1.250 |",
    ]


def test_a_result_written_before_provenance_existed_is_labelled_as_such() -> None:
    assert provenance.label([{"rate": 1}]) == provenance.label({"rate": 1})
    assert "no provenance recorded" in provenance.label({"rate": 1})
