"""``make eval``'s "pue at the last tag" row: the previous release's recommender on the same splits.

The release is checked out with ``git worktree add --detach`` in a temporary directory (removed after), and
``tests/benchmarks/eval_last_tag_child.py`` (this tree's, so the protocol is the same) runs in a subprocess
whose ``PYTHONPATH`` is that checkout: it imports the release's ``destinations`` and ``schemas``, learns
the training events through the release's tracker with its default parameters, and writes each target's
top-K list, which this process scores like every other method. The child uses only the API the release
already had (``LocalStore``, ``LocalEventTracker``, ``LocalRecommender.get_recommendations``).

Small on purpose: issue 24 adds a generic ``AGAINST=<ref>`` to make bench / bench-scale / eval; this is
the one piece the eval needs, for the lead to unify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from tests.benchmarks.eval_data import Split

LAST_TAG: Final = "v0.1.0"
ROOT: Final = Path(__file__).resolve().parents[2]
CHILD: Final = Path(__file__).with_name("eval_last_tag_child.py")


@contextmanager
def worktree(ref: str = LAST_TAG) -> Iterator[Path]:
    """A detached checkout of ``ref`` in a temporary directory, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="pue-last-tag-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(  # noqa: S603 - fixed argv, ref from our own constant or command line
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), ref],  # noqa: S607
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(  # noqa: S603
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],  # noqa: S607
                check=False,
            )


def ranked_lists(tree: Path, split: Split, k: int) -> dict[str, list[str]]:
    """Each target's top-``k`` list from the recommender in ``tree``, trained on ``split.train``."""
    with tempfile.TemporaryDirectory(prefix="pue-last-tag-run-") as tmp:
        payload, out = Path(tmp) / "split.json", Path(tmp) / "lists.json"
        payload.write_text(json.dumps(_payload(split, k)), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(tree)}
        subprocess.run(  # noqa: S603 - our interpreter, our script, our files
            [sys.executable, str(CHILD), str(tree), str(payload), str(out)], check=True, cwd=tmp, env=env
        )
        lists: dict[str, list[str]] = json.loads(out.read_text(encoding="utf-8"))
    return lists


def _payload(split: Split, k: int) -> dict[str, object]:
    events: Sequence[list[object]] = [[e.user, e.item, e.ts, e.event_type, e.anonymous] for e in split.train]
    return {"k": k, "events": events, "targets": sorted(split.targets)}
