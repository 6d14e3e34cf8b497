"""``make eval``: pue's local recommender against baselines, leave-last-out, HR@10 and NDCG@10.

    .venv/bin/python -m tests.benchmarks.evaluate [--data movietweetings,synthetic] [--quick]

For each data set: pue is scored with the product's one default (``ModelParameters()``, the same for every
data set, chosen on the validation splits) and with the earlier default for comparison; every baseline
configuration is scored on the validation split (each eligible user's second-to-last new item); the best
one per baseline (by HR@10) is then scored once on the test split (the
last new item), which is the table printed and written to ``bench-results/eval.json``. pue is evaluated
through its real code: the training events go through ``LocalEventTracker.put_events`` into a
``LocalStore`` (exactly what ``pue replay`` does) and the lists come from
``LocalRecommender.get_recommendations``. MovieTweetings is read from ../shared (never copied into the
repository); when it is absent that data set is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from destinations.local.recommender import LocalRecommender, ModelParameters
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker
from schemas.interaction import EventBatch, Interaction
from schemas.limits import PUT_EVENTS_MAX_EVENTS
from schemas.recommendation import RecommendationRequest
from tests.benchmarks import eval_baselines as base
from tests.benchmarks.eval_data import MOVIETWEETINGS, Event, Split, leave_last_out, movietweetings, synthetic

K: Final = 10
PURCHASES: Final = frozenset({"Order Completed"})
ROOT: Final = Path(__file__).resolve().parents[2]
# pue is scored with the product's one default (ModelParameters(), chosen on the validation splits, see
# docs/recommender.md) and, for comparison, the earlier default: window 10, cosine votes, no popularity.
PUE_CONFIGS: Final = {
    "pue": ModelParameters(),
    "pue before": ModelParameters(
        window=10,
        anchors=20,
        decay=0.85,
        damping=0.5,
        popularity_weight=0.0,
        anchor_damping=0.5,
        lift=0.0,
        neighbours=200,
    ),
}
EASE_GRID: Final = (100.0, 500.0)
IALS_GRID: Final = ((32, 1.0, 10.0), (32, 10.0, 40.0))  # (factors, reg, alpha)

Scorer = base.Scorer


def _say(message: str) -> None:
    print(f"[eval {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def evaluate(split: Split, scorer: Scorer, seen: dict[str, set[str]]) -> tuple[float, float]:
    """(HR@K, NDCG@K) over the split's target users."""
    hits, gain = 0, 0.0
    for user, target in split.targets.items():
        ranked = scorer(user, seen.get(user, set()))[:K]
        if target in ranked:
            hits += 1
            gain += 1.0 / math.log2(ranked.index(target) + 2)
    n = max(len(split.targets), 1)
    return hits / n, gain / n


@contextmanager
def pue_model(train: Sequence[Event], params: ModelParameters) -> Iterator[LocalStore]:
    """A fresh local store that learned ``train`` through the tracker (batches of 5,000, as a backfill)."""
    with tempfile.TemporaryDirectory(prefix="pue-eval-") as tmp:
        store = LocalStore(Path(tmp) / "pue.sqlite3")
        tracker = LocalEventTracker(store, LocalRecommender(store, PURCHASES, params))
        for start in range(0, len(train), 5_000):
            with tracker.batch():
                for chunk in _chunks(train[start : start + 5_000], start):
                    tracker.put_events(chunk)
        try:
            yield store
        finally:
            store.close()


def _chunks(events: Sequence[Event], first_id: int) -> Iterator[EventBatch]:
    """PutEvents calls: consecutive events of one user, at most 10 each, in time order."""
    run: list[Interaction] = []
    for n, e in enumerate(events, start=first_id):
        interaction = Interaction(f"e{n}", e.event_type, f"s-{e.user}", _utc(e.ts), e.user, e.item)
        if run and (run[-1].user_id != e.user or len(run) == PUT_EVENTS_MAX_EVENTS):
            yield EventBatch(run[0].session_id, run[0].user_id, tuple(run))
            run = []
        run.append(interaction)
    if run:
        yield EventBatch(run[0].session_id, run[0].user_id, tuple(run))


def _utc(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def pue_scorer(store: LocalStore, params: ModelParameters) -> Scorer:
    recommender = LocalRecommender(store, PURCHASES, params)

    def top(user: str, skip: set[str]) -> list[str]:
        request = RecommendationRequest(user, num_results=K)
        return list(recommender.get_recommendations(request).item_ids)

    return top


def _seen(train: Sequence[Event]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for e in train:
        seen.setdefault(e.user, set()).add(e.item)
    return seen


def _best(
    name: str, configs: Sequence[Any], score: Callable[[Any], tuple[float, float]]
) -> tuple[Any, tuple[float, float]]:
    results = []
    for config in configs:
        result = score(config)
        _say(f"  validation {name} {config}: HR@10 {result[0]:.4f} NDCG@10 {result[1]:.4f}")
        results.append((result, config))
    result, config = max(results, key=lambda rc: rc[0][0])
    return config, result


def _pue_on(split: Split, seen: dict[str, set[str]], params: ModelParameters) -> tuple[float, float]:
    with pue_model(split.train, params) as store:
        return evaluate(split, pue_scorer(store, params), seen)


def _config(params: ModelParameters) -> str:
    return (
        f"window {params.window}, anchors {params.anchors}, decay {params.decay}, "
        f"damping {params.damping}, anchor damping {params.anchor_damping}, lift {params.lift}, "
        f"popularity weight {params.popularity_weight}, neighbours {params.neighbours}"
    )


def run_data_set(name: str, events: list[Event], quick: bool) -> dict[str, Any]:
    validation, test = leave_last_out(events, steps_back=1), leave_last_out(events)
    _say(
        f"{name}: {len(events):,} events; {len(test.targets):,} test users, "
        f"{len(validation.targets):,} validation users"
    )
    seen_v, seen_t = _seen(validation.train), _seen(test.train)
    day = 86_400.0
    table: dict[str, Any] = {}

    for method, params in PUE_CONFIGS.items():
        if quick and method != "pue":
            continue
        result = _pue_on(validation, seen_v, params)
        _say(f"  validation {method} ({_config(params)}): HR@10 {result[0]:.4f} NDCG@10 {result[1]:.4f}")
        table[method] = _row(_config(params), result, _pue_on(test, seen_t, params))

    def popular(split: Split, seen: dict[str, set[str]], since: float) -> tuple[float, float]:
        return evaluate(split, base.ranked_list_scorer(base.popularity(split.train, since), K), seen)

    table["popularity"] = _row(None, popular(validation, seen_v, -math.inf), popular(test, seen_t, -math.inf))
    table["recent popularity"] = _row(
        f"{base.RECENT_DAYS} days",
        popular(validation, seen_v, validation.now - base.RECENT_DAYS * day),
        popular(test, seen_t, test.now - base.RECENT_DAYS * day),
    )
    data_v, data_t = base.UserItems.build(validation.train), base.UserItems.build(test.train)
    table["item-kNN"] = _row(
        "cosine, full",
        evaluate(validation, base.item_knn(data_v, K), seen_v),
        evaluate(test, base.item_knn(data_t, K), seen_t),
    )
    grids: list[tuple[str, Sequence[Any], Callable[..., Scorer]]] = [
        ("EASE", EASE_GRID[1:2] if quick else EASE_GRID, lambda d, c: base.ease(d, c, K)),
        ("iALS", IALS_GRID[:1] if quick else IALS_GRID, lambda d, c: base.ials(d, c[0], c[1], c[2], K)),
    ]
    for method, grid, build in grids:

        def on_validation(config: Any, build: Callable[..., Scorer] = build) -> tuple[float, float]:
            return evaluate(validation, build(data_v, config), seen_v)

        config, result = _best(method, grid, on_validation)
        table[method] = _row(config, result, evaluate(test, build(data_t, config), seen_t))
    for method, row in table.items():
        _say(
            f"{name} test {method}: HR@10 {row['test'][0]:.4f} NDCG@10 {row['test'][1]:.4f} ({row['config']})"
        )
    return {"events": len(events), "test_users": len(test.targets), "methods": table}


def _row(config: Any, validation: tuple[float, float], test: tuple[float, float]) -> dict[str, Any]:
    return {"config": config, "validation": list(validation), "test": list(test)}


def markdown(results: dict[str, Any]) -> str:
    methods = ["pue", "pue before", "popularity", "recent popularity", "item-kNN", "EASE", "iALS"]
    lines = [
        "| data (test split) | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for name, data in results.items():
        cells = []
        best = max(data["methods"][m]["test"][0] for m in methods[2:] if m in data["methods"])
        for m in methods:
            if m not in data["methods"]:
                cells.append("-")
                continue
            hr, ndcg = data["methods"][m]["test"]
            cell = f"{hr:.3f} / {ndcg:.3f}"
            cells.append(f"**{cell}**" if m == "pue" and hr >= best else cell)
        lines.append(f"| {name} ({data['test_users']:,} users) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", default="movietweetings,synthetic", help="comma-separated data sets")
    parser.add_argument("--quick", action="store_true", help="one configuration per method (a smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.data.split(","):
        if name == "movietweetings":
            if not MOVIETWEETINGS.is_file():
                _say(
                    f"skipping MovieTweetings: {MOVIETWEETINGS} is absent (see its README in ../shared/data)"
                )
                continue
            results["MovieTweetings 100k"] = run_data_set("MovieTweetings 100k", movietweetings(), args.quick)
        elif name == "synthetic":
            results["synthetic planted affinity"] = run_data_set("synthetic", synthetic(), args.quick)
        else:
            parser.error(f"unknown data set {name!r} (movietweetings, synthetic)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
