"""``make eval``: pue's local recommender against baselines, leave-last-out, HR@10 and NDCG@10.

    .venv/bin/python -m tests.benchmarks.evaluate [--data movietweetings,grocery,synthetic] [--users N]
        [--rows pue,last-tag,baselines] [--quick]

Every data set in ../shared/data (MovieTweetings 100k, Amazon Grocery 5-core; skipped with a message when
absent, never copied into the repository) plus the synthetic set, each under two protocols: "users" (the
evaluated users query by their userId) and, on the real sets, "anonymous" (each evaluated user's last
events are sent under an anonymousId only and the next item is asked for that anonymousId:
``eval_data.anonymous``). Each protocol has a validation split (the second-to-last new item) for choosing
settings and a test split (the last new item), which is the table.

pue is scored with the product's one default (``ModelParameters()``, chosen by its mean over every
protocol's validation split: ``tests.benchmarks.eval_tune``), through its real code: the training events go
through ``LocalEventTracker.put_events`` into a ``LocalStore`` (anonymous events with no userId, their
anonymousId as the session, as the Segment normalizer gives them) and the lists come from
``LocalRecommender.get_recommendations`` with the userId or anonymousId, what ``GET /recommendations``
calls. "pue at the last tag" is the previous release (``eval_last_tag``) on the same splits. Each
baseline's best configuration on a protocol's validation split (by HR@10) is scored once on its test split.

Evaluated users are subsampled to ``--users`` per split (default 2,000, a fixed seed): the whole run took
about an hour at load average 8-16 on two shared cores; every figure carries its standard error.
Results (validation and test, with standard errors) go to ``bench-results/eval.json``; the table is
printed.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from destinations.local.recommender import LocalRecommender, ModelParameters
from destinations.local.store import LocalStore
from destinations.local.tracker import LocalEventTracker
from schemas.interaction import EventBatch, Interaction
from schemas.limits import PUT_EVENTS_MAX_EVENTS
from schemas.recommendation import RecommendationRequest
from tests.benchmarks import eval_baselines as base
from tests.benchmarks import eval_data as data
from tests.benchmarks import eval_last_tag, provenance
from tests.benchmarks.eval_data import Event, Split
from tests.benchmarks.eval_report import Score, markdown, score
from tests.benchmarks.ref_tree import RefTree, ref_tree

K: Final = 10
PURCHASES: Final = frozenset({"Order Completed"})
ROOT: Final = Path(__file__).resolve().parents[2]
USERS: Final = 2_000  # evaluated users per split (fixed seed): standard errors ~0.008 HR@10
EASE_GRID: Final = (100.0, 500.0)
IALS_GRID: Final = ((32, 1.0, 10.0), (32, 10.0, 40.0))  # (factors, reg, alpha)
SKNN_GRID: Final = ((100, True), (500, True), (100, False))  # (neighbours, by position: V-SKNN)
LAST_TAG_ROW: Final = f"pue at {eval_last_tag.LAST_TAG}"

Scorer = base.Scorer
Protocol = tuple[Split, Split]  # (validation, test)


def say(message: str) -> None:
    print(f"[eval {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def evaluate(split: Split, scorer: Scorer, seen: dict[str, set[str]]) -> Score:
    """HR@K and NDCG@K over the split's target users, with their standard errors."""
    return score(split.targets, lambda user: scorer(user, seen.get(user, set()))[:K])


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
    """PutEvents calls: consecutive events of one actor, at most 10 each, in time order. An anonymous
    event has no userId and its anonymousId as the session, as ``consumers.stream.normalize`` gives it."""
    run: list[Interaction] = []
    for n, e in enumerate(events, start=first_id):
        session, user = (e.user, None) if e.anonymous else (f"s-{e.user}", e.user)
        interaction = Interaction(
            f"e{n}", e.event_type, session, datetime.fromtimestamp(e.ts, UTC), user, e.item
        )
        if run and (run[-1].session_id != session or len(run) == PUT_EVENTS_MAX_EVENTS):
            yield EventBatch(run[0].session_id, run[0].user_id, tuple(run))
            run = []
        run.append(interaction)
    if run:
        yield EventBatch(run[0].session_id, run[0].user_id, tuple(run))


def pue_scorer(store: LocalStore, params: ModelParameters) -> Scorer:
    recommender = LocalRecommender(store, PURCHASES, params)

    def top(user: str, skip: set[str]) -> list[str]:
        return list(recommender.get_recommendations(RecommendationRequest(user, num_results=K)).item_ids)

    return top


def pue_on(split: Split, params: ModelParameters) -> Score:
    with pue_model(split.train, params) as store:
        return evaluate(split, pue_scorer(store, params), {})


def seen_by(train: Sequence[Event]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for e in train:
        seen.setdefault(e.user, set()).add(e.item)
    return seen


def protocols(names: Sequence[str], users: int | None) -> Iterator[tuple[str, Protocol]]:
    """(name, (validation, test)) for every data set asked for and found, and its anonymous protocol."""
    loaders: dict[str, tuple[str, Path | None, Callable[[], list[Event]]]] = {
        "movietweetings": ("MovieTweetings 100k", data.MOVIETWEETINGS, data.movietweetings),
        "grocery": ("Amazon Grocery 5-core", data.GROCERY, data.grocery),
        "synthetic": ("synthetic", None, data.synthetic),
    }
    for key in names:
        label, path, load = loaders[key]
        if path is not None and not path.is_file():
            say(f"skipping {label}: {path} is absent (see the READMEs in ../shared/data)")
            continue
        events = load()
        validation = data.subsample(data.leave_last_out(events, steps_back=1), users)
        test = data.subsample(data.leave_last_out(events), users)
        say(
            f"{label}: {len(events):,} events; {len(test.targets):,} test and {len(validation.targets):,} "
            "validation users evaluated"
        )
        yield f"{label}, users", (validation, test)
        if path is not None:
            yield f"{label}, anonymous", (data.anonymous(validation), data.anonymous(test))


def _best(name: str, configs: Sequence[Any], score_of: Callable[[Any], Score]) -> tuple[Any, Score]:
    results = []
    for config in configs:
        result = score_of(config)
        say(f"  validation {name} {config}: HR@10 {result.hr:.4f} NDCG@10 {result.ndcg:.4f}")
        results.append((result, config))
    result, config = max(results, key=lambda rc: rc[0].hr)
    return config, result


def baselines(validation: Split, test: Split, quick: bool) -> dict[str, dict[str, Any]]:
    seen_v, seen_t = seen_by(validation.train), seen_by(test.train)
    day = 86_400.0
    table: dict[str, dict[str, Any]] = {}

    def popular(split: Split, seen: dict[str, set[str]], since: float) -> Score:
        return evaluate(split, base.ranked_list_scorer(base.popularity(split.train, since), K), seen)

    table["popularity"] = row(None, popular(validation, seen_v, -math.inf), popular(test, seen_t, -math.inf))
    table["recent popularity"] = row(
        f"{base.RECENT_DAYS} days",
        popular(validation, seen_v, validation.now - base.RECENT_DAYS * day),
        popular(test, seen_t, test.now - base.RECENT_DAYS * day),
    )
    data_v, data_t = base.UserItems.build(validation.train), base.UserItems.build(test.train)
    table["item-kNN"] = row(
        "cosine, full",
        evaluate(validation, base.item_knn(data_v, K), seen_v),
        evaluate(test, base.item_knn(data_t, K), seen_t),
    )
    grids: list[tuple[str, Sequence[Any], Callable[..., Scorer]]] = [
        ("EASE", EASE_GRID[1:2] if quick else EASE_GRID, lambda d, c: base.ease(d, c, K)),
        ("iALS", IALS_GRID[:1] if quick else IALS_GRID, lambda d, c: base.ials(d, c[0], c[1], c[2], K)),
        ("SKNN", SKNN_GRID[:1] if quick else SKNN_GRID, lambda d, c: base.sknn(d, c[0], c[1], K)),
    ]
    for method, grid, build in grids:

        def on_validation(config: Any, build: Callable[..., Scorer] = build) -> Score:
            return evaluate(validation, build(data_v, config), seen_v)

        config, result = _best(method, grid, on_validation)
        table[method] = row(config, result, evaluate(test, build(data_t, config), seen_t))
    return table


def run_protocol(
    name: str, validation: Split, test: Split, rows: set[str], quick: bool, tree: RefTree | None
) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    params = ModelParameters()
    if "pue" in rows:
        table["pue"] = row(str(params), pue_on(validation, params), pue_on(test, params))
        say(f"  validation pue: HR@10 {table['pue']['validation'][0]:.4f}")
    if tree is not None:

        def tagged(split: Split) -> Score:
            lists = eval_last_tag.ranked_lists(tree, split, K)
            return score(split.targets, lambda user: lists[user])

        table[LAST_TAG_ROW] = row("its defaults", tagged(validation), tagged(test))
    if "baselines" in rows:
        table.update(baselines(validation, test, quick))
    for method, r in table.items():
        say(f"{name} test {method}: HR@10 {r['test'][0]:.4f} ± {r['test'][2]:.4f} ({r['config']})")
    return {"test_users": len(test.targets), "validation_users": len(validation.targets), "methods": table}


def row(config: Any, validation: Score, test: Score) -> dict[str, Any]:
    return {
        "config": None if config is None else str(config),
        "validation": list(validation),
        "test": list(test),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", default="movietweetings,grocery,synthetic", help="comma-separated data sets"
    )
    parser.add_argument("--users", type=int, default=USERS, help="evaluated users per split (0: all)")
    parser.add_argument(
        "--rows",
        default="pue,last-tag,baselines",
        help="which rows to compute (pue, last-tag, baselines); the others are kept from an earlier "
        "eval.json in --out, same protocols and splits (e.g. --rows pue after a model change)",
    )
    parser.add_argument("--quick", action="store_true", help="one configuration per baseline (a smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    names = args.data.split(",")
    unknown = set(names) - {"movietweetings", "grocery", "synthetic"}
    if unknown:
        parser.error(f"unknown data set(s) {sorted(unknown)} (movietweetings, grocery, synthetic)")
    rows = set(args.rows.split(","))
    if rows - {"pue", "last-tag", "baselines"}:
        parser.error(f"unknown rows {sorted(rows - {'pue', 'last-tag', 'baselines'})}")
    run = provenance.begin()
    earlier_path = args.out / "eval.json"
    earlier = json.loads(earlier_path.read_text(encoding="utf-8")) if earlier_path.is_file() else {}
    results: dict[str, Any] = {}
    with contextlib_tree("last-tag" in rows) as tree:
        for name, (validation, test) in protocols(names, args.users or None):
            results[name] = run_protocol(name, validation, test, rows, args.quick, tree)
            _keep_earlier(results[name], earlier.get(name), rows)
    provenance.write(args.out / "eval.json", results, run)
    print(markdown(results, ["pue", LAST_TAG_ROW]))
    return 0


def _keep_earlier(result: dict[str, Any], earlier: dict[str, Any] | None, rows: set[str]) -> None:
    """Rows not recomputed, from an earlier run of the same protocol (same users evaluated)."""
    if earlier is None or rows == {"pue", "last-tag", "baselines"}:
        return
    if earlier["test_users"] != result["test_users"]:
        raise SystemExit("the earlier eval.json evaluated other users: run every row (--rows default)")
    merged = {**earlier["methods"], **result["methods"]}
    result["methods"] = {m: merged[m] for m in ["pue", LAST_TAG_ROW, *earlier["methods"]] if m in merged}


@contextmanager
def contextlib_tree(wanted: bool) -> Iterator[RefTree | None]:
    if not wanted:
        yield None
        return
    with ref_tree(eval_last_tag.LAST_TAG) as tree:
        yield tree


if __name__ == "__main__":
    raise SystemExit(main())
