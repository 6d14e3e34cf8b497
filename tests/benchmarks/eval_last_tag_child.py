"""Run by ``eval_last_tag.ranked_lists`` on the interpreter of an older pue checkout's own venv.

    python eval_last_tag_child.py TREE SPLIT.json OUT.json

Learns the split's training events with that checkout's local backend (its default parameters, batches of
5,000 as a backfill, PutEvents calls of at most 10 events of one actor) and writes each target's top-K
list. Imports only what the release had; refuses to run against this tree by mistake.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path


def main(tree: str, split_path: str, out_path: str) -> int:
    import destinations
    from destinations.local.recommender import LocalRecommender
    from destinations.local.store import LocalStore
    from destinations.local.tracker import LocalEventTracker
    from schemas.interaction import EventBatch, Interaction
    from schemas.recommendation import RecommendationRequest

    if not Path(destinations.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"imported {destinations.__file__}, not the checkout {tree}: check the interpreter")
    split = json.loads(Path(split_path).read_text(encoding="utf-8"))
    purchases = frozenset({"Order Completed"})
    with tempfile.TemporaryDirectory(prefix="pue-last-tag-store-") as tmp:
        store = LocalStore(Path(tmp) / "pue.sqlite3")
        recommender = LocalRecommender(store, purchases)
        tracker = LocalEventTracker(store, recommender)
        events = split["events"]
        for start in range(0, len(events), 5_000):
            with tracker.batch():
                run: list[Interaction] = []
                for n, (user, item, ts, event_type, anonymous) in enumerate(
                    events[start : start + 5_000], start=start
                ):
                    it = Interaction(
                        f"e{n}",
                        event_type,
                        user if anonymous else f"s-{user}",
                        datetime.fromtimestamp(ts, UTC),
                        None if anonymous else user,
                        item,
                    )
                    if run and (run[-1].session_id != it.session_id or len(run) == 10):
                        tracker.put_events(EventBatch(run[0].session_id, run[0].user_id, tuple(run)))
                        run = []
                    run.append(it)
                if run:
                    tracker.put_events(EventBatch(run[0].session_id, run[0].user_id, tuple(run)))
        lists = {
            target: list(
                recommender.get_recommendations(
                    RecommendationRequest(target, num_results=split["k"])
                ).item_ids
            )
            for target in split["targets"]
        }
        store.close()
    Path(out_path).write_text(json.dumps(lists), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
