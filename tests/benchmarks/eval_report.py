"""Scores and tables for ``make eval``: HR@10 and NDCG@10 with their standard errors, per protocol and
their mean over protocols.

A protocol's standard error is the sample's: sqrt(p (1 - p) / n) for the hit rate, the gains' standard
deviation / sqrt(n) for NDCG. The mean over P protocols (independent samples) has standard error
sqrt(sum of SE²) / P.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple


class Score(NamedTuple):
    hr: float
    ndcg: float
    hr_se: float
    ndcg_se: float


def score(targets: Mapping[str, str], top: Callable[[str], Sequence[str]]) -> Score:
    """Each target user's list from ``top`` (best first, already cut at K) against the held-out item."""
    gains = []
    for user, target in targets.items():
        ranked = list(top(user))
        gains.append(1.0 / math.log2(ranked.index(target) + 2) if target in ranked else 0.0)
    n = max(len(gains), 1)
    hr = sum(1 for g in gains if g > 0) / n
    ndcg = sum(gains) / n
    ndcg_var = sum((g - ndcg) ** 2 for g in gains) / max(n - 1, 1)
    return Score(hr, ndcg, math.sqrt(hr * (1 - hr) / n), math.sqrt(ndcg_var / n))


def mean(scores: Sequence[Score]) -> Score:
    """The unweighted mean over protocols, with its standard error."""
    p = max(len(scores), 1)
    return Score(
        sum(s.hr for s in scores) / p,
        sum(s.ndcg for s in scores) / p,
        math.sqrt(sum(s.hr_se**2 for s in scores)) / p,
        math.sqrt(sum(s.ndcg_se**2 for s in scores)) / p,
    )


def markdown(results: Mapping[str, Any], ours: Sequence[str], split: str = "test") -> str:
    """One row per protocol and a mean row; a column per method; HR@10 ± SE / NDCG@10, pue in bold where
    it is at least the best baseline."""
    methods: list[str] = []
    for protocol in results.values():
        methods += [m for m in protocol["methods"] if m not in methods]
    lines = [f"| {split} split | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    per_method: dict[str, list[Score]] = {m: [] for m in methods}
    for name, protocol in results.items():
        table = protocol["methods"]
        for m in methods:
            if m in table:
                per_method[m].append(Score(*table[m][split]))
        lines.append(
            f"| {name} ({protocol[f'{split}_users']:,} users) | " + _cells(table, methods, ours, split)
        )
    means = {m: list(mean(s)) for m, s in per_method.items() if len(s) == len(results)}
    lines.append(
        f"| **mean of {len(results)}** | "
        + _cells({m: {split: v} for m, v in means.items()}, methods, ours, split)
    )
    return "\n".join(lines)


def _cells(table: Mapping[str, Any], methods: Sequence[str], ours: Sequence[str], split: str) -> str:
    best = max((table[m][split][0] for m in methods if m in table and m not in ours), default=0.0)
    cells = []
    for m in methods:
        if m not in table:
            cells.append("-")
            continue
        hr, ndcg, hr_se, _ = table[m][split]
        cell = f"{hr:.3f} ± {hr_se:.3f} / {ndcg:.3f}"
        cells.append(f"**{cell}**" if m == "pue" and hr >= best else cell)
    return " | ".join(cells) + " |"
