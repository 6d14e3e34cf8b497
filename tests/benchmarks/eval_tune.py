"""Choose pue's ranking settings by their mean HR@10 over every protocol's validation split, never one set.

    .venv/bin/python -m tests.benchmarks.eval_tune --grid "decay=0.95,0.9;lift=1,1.5"
    .venv/bin/python -m tests.benchmarks.eval_tune --grid "decay=0.95,0.9 | lift=1,1.5"

``;`` makes every combination; ``|`` joins grids (one knob at a time around the defaults, in one run).

Each protocol of ``make eval`` (every data set found, users and anonymous) learns its validation split once
with the default learning settings (window, neighbours: what a grid over ranking settings cannot change);
then every combination of the grid (the other ``ModelParameters`` fields, from the defaults) ranks the same
stores. Printed per protocol and as the mean with its standard error, best mean first; the test splits are
never read. A grid over ``window`` or ``neighbours`` relearns per value.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import fields, replace
from typing import Any

from destinations.local.recommender import ModelParameters
from tests.benchmarks.eval_report import Score, mean
from tests.benchmarks.evaluate import USERS, evaluate, protocols, pue_model, pue_scorer, say


def grid(spec: str) -> list[ModelParameters]:
    """``name=v1,v2;name2=...`` as every combination over the defaults; ``a | b``: a's then b's, once each."""
    configs: list[ModelParameters] = []
    for part in spec.split("|"):
        configs += (c for c in _product(part.strip()) if c not in configs)
    return configs


def _product(spec: str) -> list[ModelParameters]:
    kinds = {f.name: f.type for f in fields(ModelParameters)}
    axes: list[list[tuple[str, Any]]] = []
    for part in filter(None, spec.split(";")):
        name, _, values = part.strip().partition("=")
        if name not in kinds:
            raise SystemExit(f"unknown setting {name!r}: one of {', '.join(kinds)}")
        cast = int if kinds[name] in (int, "int") else float
        axes.append([(name, cast(v)) for v in values.split(",")])
    return [replace(ModelParameters(), **dict(combo)) for combo in itertools.product(*axes)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.eval_tune", description=__doc__)
    parser.add_argument(
        "--grid", default="", help="name=v1,v2;name2=... over ModelParameters' fields; '|' joins grids"
    )
    parser.add_argument("--data", default="movietweetings,grocery,synthetic")
    parser.add_argument("--users", type=int, default=USERS)
    args = parser.parse_args(argv)
    configs = grid(args.grid) or [ModelParameters()]
    scores: dict[ModelParameters, dict[str, Score]] = {c: {} for c in configs}
    for name, (validation, _) in protocols(args.data.split(","), args.users or None):
        learning = lambda c: (c.window, c.neighbours)  # noqa: E731
        by_learning = itertools.groupby(sorted(configs, key=learning), key=learning)
        for _, group in by_learning:
            members = list(group)
            with pue_model(validation.train, members[0]) as store:
                for config in members:
                    scores[config][name] = evaluate(validation, pue_scorer(store, config), {})
                    say(f"  {name} {_changed(config)}: HR@10 {scores[config][name].hr:.4f}")
    ranked = sorted(configs, key=lambda c: -mean(list(scores[c].values())).hr)
    for config in ranked:
        per = "  ".join(f"{s.hr:.4f}" for s in scores[config].values())
        m = mean(list(scores[config].values()))
        print(f"mean {m.hr:.4f} ± {m.hr_se:.4f} NDCG {m.ndcg:.4f} | {per} | {_changed(config)}")
    print("protocols: " + " | ".join(next(iter(scores.values())).keys()), file=sys.stderr)
    return 0


def _changed(config: ModelParameters) -> str:
    default = ModelParameters()
    diff = {
        f.name: getattr(config, f.name)
        for f in fields(config)
        if getattr(config, f.name) != getattr(default, f.name)
    }
    return ", ".join(f"{k}={v}" for k, v in diff.items()) or "defaults"


if __name__ == "__main__":
    raise SystemExit(main())
