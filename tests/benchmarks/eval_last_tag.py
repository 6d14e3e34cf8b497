"""``make eval``'s "pue at the last tag" row: the previous release's recommender on the same splits.

The release is built by tests/benchmarks/ref_tree.py, as for ``make bench AGAINST=<ref>``: a detached
worktree with its own venv (the release installed as ``make install`` would), removed after unless
``PUE_REF_TREES`` keeps it. ``tests/benchmarks/eval_last_tag_child.py`` (this tree's, so the protocol is the
same) runs on the release's interpreter: it imports the release's ``destinations`` and ``schemas``, learns
the training events through the release's tracker with its default parameters, and writes each target's
top-K list, which this process scores like every other method. The child uses only the API the release
already had (``LocalStore``, ``LocalEventTracker``, ``LocalRecommender.get_recommendations``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from tests.benchmarks.eval_data import Split
from tests.benchmarks.ref_tree import RefTree

LAST_TAG: Final = "v0.1.0"
CHILD: Final = Path(__file__).with_name("eval_last_tag_child.py")


def ranked_lists(tree: RefTree, split: Split, k: int) -> dict[str, list[str]]:
    """Each target's top-``k`` list from the recommender in ``tree``, trained on ``split.train``."""
    with tempfile.TemporaryDirectory(prefix="pue-last-tag-run-") as tmp:
        payload, out = Path(tmp) / "split.json", Path(tmp) / "lists.json"
        payload.write_text(json.dumps(_payload(split, k)), encoding="utf-8")
        subprocess.run(  # noqa: S603 - the ref's interpreter, our script, our files
            [str(tree.python), str(CHILD), str(tree.root), str(payload), str(out)],
            check=True,
            cwd=tmp,
            env=tree.env(),
        )
        lists: dict[str, list[str]] = json.loads(out.read_text(encoding="utf-8"))
    return lists


def _payload(split: Split, k: int) -> dict[str, object]:
    events: Sequence[list[object]] = [[e.user, e.item, e.ts, e.event_type, e.anonymous] for e in split.train]
    return {"k": k, "events": events, "targets": sorted(split.targets)}
