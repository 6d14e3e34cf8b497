"""A git ref built beside the working tree: a detached worktree with its own virtual environment (issue 24).

    with ref_tree("v0.1.0") as tree:
        subprocess.run([str(tree.python), "-m", "tests.benchmarks.scale", ...], cwd=tree.root)

Figures from different days cannot be compared on a shared machine (the machine moves, not the code), so a
release is measured beside the working tree in one run. The ref gets its own checkout (``git worktree add
--detach``, so no branch is created or moved) and its own venv with the ref's own dependencies installed as
``make install`` would (``pip install -e '.[dev]'`` constrained by the ref's runtime lock), so the code under
test is exactly the ref's. ``harness_from`` copies another tree's ``tests/`` over the ref's, for measuring the
ref with the current harness (same archive shapes, same measurements); a harness that needs an API the ref
does not have then fails loudly rather than measuring something else.

The tree is removed (``git worktree remove``) when the block ends, unless ``PUE_REF_TREES`` names a folder:
then each commit's tree is built once there and reused by later runs (``make clean`` does not touch it).
Used by tests/benchmarks/against.py (``make bench AGAINST=<ref>``) and by ``make eval``'s release row.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_STAMP = ".ref-tree-ready"  # written last: a tree without it was interrupted and is rebuilt


@dataclass(frozen=True)
class RefTree:
    ref: str  # as asked ("v0.1.0")
    commit: str  # the full hash it resolved to
    root: Path  # the checkout
    python: Path  # its venv's interpreter, with the ref installed editable

    def env(self) -> dict[str, str]:
        """The environment to run the ref's code in: its venv first on PATH, nothing of ours on sys.path."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.python.parent.parent)
        return env


def resolve(ref: str, repo: Path = ROOT) -> str:
    """The commit ``ref`` names, or a clear error (a typo'd tag should not build anything)."""
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise SystemExit(f"ref_tree: {ref!r} is not a commit, branch or tag of {repo}")
    return found.stdout.strip()


@contextmanager
def ref_tree(ref: str, repo: Path = ROOT, harness_from: Path | None = None) -> Iterator[RefTree]:
    """Check ``ref`` out beside ``repo`` with its own venv; yield it; removed after unless PUE_REF_TREES."""
    commit = resolve(ref, repo)
    keep = os.environ.get("PUE_REF_TREES")
    parent = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="pue-ref-"))
    root = parent / commit[:12]
    try:
        if not (root / _STAMP).exists():
            _checkout(repo, commit, root)
            _install(root)
            (root / _STAMP).write_text(f"{ref} {commit}\n", encoding="utf-8")
        _wheels(root)
        if harness_from is not None:
            _overlay_tests(harness_from, root)
        yield RefTree(ref=ref, commit=commit, root=root, python=root / ".venv" / "bin" / "python")
    finally:
        if not keep:
            _remove(repo, root)
            shutil.rmtree(parent, ignore_errors=True)


def _say(message: str) -> None:
    print(f"[ref-tree] {message}", file=sys.stderr, flush=True)


def _checkout(repo: Path, commit: str, root: Path) -> None:
    _remove(repo, root)  # an interrupted earlier build
    root.parent.mkdir(parents=True, exist_ok=True)
    _say(f"git worktree add --detach {root} {commit[:12]}")
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(root), commit], check=True
    )


def _install(root: Path) -> None:
    """What ``make install`` does to the venv (the Lambda wheels: ``_wheels``)."""
    _say(f"venv for {root.name} (pip install -e '.[dev]', about a minute)")
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    lock = root / "deploy" / "requirements.lock"
    constraints: list[str] = []
    if lock.exists():  # the runtime lock's pins without hashes, as the Makefile does
        pins = [
            line.split(" \\")[0]
            for line in lock.read_text(encoding="utf-8").splitlines()
            if line and not line.lstrip().startswith(("--hash", "#"))
        ]
        constraint_file = venv / "runtime-constraints.txt"
        constraint_file.write_text("\n".join(pins) + "\n", encoding="utf-8")
        constraints = ["-c", str(constraint_file)]
    subprocess.run([*pip, *constraints, "-e", f"{root}[dev]"], check=True, cwd=root)


def _wheels(root: Path) -> None:
    """The locked Lambda wheels, as ``make install`` fetches them: ``make bench``'s figure 7 builds the ref's
    own bundle from ``.venv/wheelhouse``, offline. Also for a tree kept from before this step existed."""
    if not (root / "deploy" / "bundle.py").exists() or (root / ".venv" / "wheelhouse").exists():
        return
    wheels = ["deploy/bundle.py", "wheels", "--arch", "template", "--arch", "host"]
    subprocess.run([str(root / ".venv" / "bin" / "python"), *wheels], check=True, cwd=root)


def _overlay_tests(source: Path, root: Path) -> None:
    target = root / "tests"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source / "tests", target, ignore=shutil.ignore_patterns("__pycache__"))


def _remove(repo: Path, root: Path) -> None:
    if root.exists():
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(root)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], check=False, capture_output=True)
