"""The baselines ``make eval`` compares pue with, in numpy (dev extras only; the product never imports it).

Every baseline ranks items the user has no training event with (as pue ranks seen items last and never
returns purchases, the held-out item is always new to the user). Matrix baselines (item-kNN, EASE, iALS)
work on the ``MAX_ITEMS`` most popular training items, so their item-item matrices fit in memory; the
items left out are the rarest, which is where these models have the least to say anyway.

- popularity: distinct training users per item.
- recent popularity: distinct users per item in the last ``RECENT_DAYS`` days before the split.
- item-kNN: cosine similarity on the binary user-item matrix, scores summed over the user's items.
- EASE (Steck 2019): closed-form item-item weights, L2 strength ``lam``.
- iALS (Hu, Koren, Volinsky 2008): implicit ALS with confidence ``1 + alpha``, solved exactly per row in
  numpy (the ``implicit`` package is not used: a plain numpy solve keeps the dev extras light).
- SKNN / V-SKNN (Ludewig & Jannach, "Evaluation of session-based recommendation algorithms", 2018): the
  actor's last ``SKNN_SESSION`` distinct items are its session; every training actor is a candidate
  neighbour, similar by the session items it shares (cosine: divided by the square roots of both sizes);
  the ``neighbours`` most similar vote for their items with their similarity. V-SKNN weighs the session's
  items by position, linearly: the most recent 1, the next ``1 - 1/len`` ... (their "linear" decay).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from tests.benchmarks.eval_data import Event

MAX_ITEMS: Final = 5_000
RECENT_DAYS: Final = 7
SKNN_SESSION: Final = 10  # the most recent distinct items that make the actor's current session
Scorer = Callable[[str, set[str]], list[str]]  # (user, items to skip) -> top items
Matrix = npt.NDArray[np.float32]


def popularity(train: Sequence[Event], since: float = float("-inf")) -> list[str]:
    users: dict[str, set[str]] = {}
    for e in train:
        if e.ts >= since:
            users.setdefault(e.item, set()).add(e.user)
    return [item for item, _ in sorted(users.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def ranked_list_scorer(ranking: list[str], k: int) -> Scorer:
    def top(user: str, skip: set[str]) -> list[str]:
        found = []
        for item in ranking:
            if item not in skip:
                found.append(item)
                if len(found) == k:
                    break
        return found

    return top


@dataclass
class UserItems:
    """The binary user-item matrix over the ``MAX_ITEMS`` most popular training items."""

    items: list[str]
    item_index: dict[str, int]
    user_index: dict[str, int]
    matrix: Matrix  # users x items, 0/1
    recent: dict[str, list[int]]  # user -> item indices, most recent distinct first

    @classmethod
    def build(cls, train: Sequence[Event], max_items: int = MAX_ITEMS) -> UserItems:
        counts = Counter(item for item, _ in {(e.item, e.user) for e in train})
        items = [item for item, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_items]]
        item_index = {item: i for i, item in enumerate(items)}
        users = sorted({e.user for e in train})
        user_index = {user: u for u, user in enumerate(users)}
        matrix = np.zeros((len(users), len(items)), dtype=np.float32)
        recent: dict[str, list[int]] = {}
        for e in reversed(train):
            i = item_index.get(e.item)
            if i is not None and matrix[user_index[e.user], i] == 0.0:
                matrix[user_index[e.user], i] = 1.0
                recent.setdefault(e.user, []).append(i)
        return cls(items, item_index, user_index, matrix, recent)

    def scorer(self, scores_for: Callable[[int], npt.NDArray[np.floating]], k: int) -> Scorer:
        def top(user: str, skip: set[str]) -> list[str]:
            u = self.user_index.get(user)
            if u is None:
                return []
            scores = np.array(scores_for(u), dtype=np.float64)
            for item in skip:
                i = self.item_index.get(item)
                if i is not None:
                    scores[i] = -np.inf
            best = np.argpartition(-scores, min(k, len(scores) - 1))[: k + 1]
            best = best[np.argsort(-scores[best], kind="stable")]
            return [self.items[i] for i in best if np.isfinite(scores[i])][:k]

        return top


def item_knn(data: UserItems, k: int) -> Scorer:
    gram = data.matrix.T @ data.matrix
    norms = np.sqrt(np.maximum(np.diag(gram), 1.0))
    similarity = gram / norms[:, None] / norms[None, :]
    np.fill_diagonal(similarity, 0.0)
    return data.scorer(lambda u: data.matrix[u] @ similarity, k)


def ease(data: UserItems, lam: float, k: int) -> Scorer:
    gram = (data.matrix.T @ data.matrix).astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(weights, 0.0)
    weights32 = weights.astype(np.float32)
    del gram, inverse, weights
    return data.scorer(lambda u: data.matrix[u] @ weights32, k)


def ials(data: UserItems, factors: int, reg: float, alpha: float, k: int, iterations: int = 6) -> Scorer:
    rng = np.random.default_rng(15)
    n_users, n_items = data.matrix.shape
    users = (rng.standard_normal((n_users, factors)) * 0.01).astype(np.float64)
    items = (rng.standard_normal((n_items, factors)) * 0.01).astype(np.float64)
    by_user = [np.flatnonzero(row) for row in data.matrix]
    by_item = [np.flatnonzero(col) for col in data.matrix.T]
    for _ in range(iterations):
        _solve_side(users, items, by_user, reg, alpha)
        _solve_side(items, users, by_item, reg, alpha)
    return data.scorer(lambda u: items @ users[u], k)


def _solve_side(
    target: npt.NDArray[np.float64],
    fixed: npt.NDArray[np.float64],
    positives: list[npt.NDArray[np.intp]],
    reg: float,
    alpha: float,
) -> None:
    """One ALS half-step: each row of ``target`` solved exactly against ``fixed`` (Hu et al., eq. 4)."""
    factors = fixed.shape[1]
    base = fixed.T @ fixed + reg * np.eye(factors)
    for row, cols in enumerate(positives):
        if len(cols) == 0:
            target[row] = 0.0
            continue
        y = fixed[cols]
        a = base + alpha * (y.T @ y)
        b = (1.0 + alpha) * y.sum(axis=0)
        target[row] = np.linalg.solve(a, b)


def sknn(data: UserItems, neighbours: int, by_position: bool, k: int) -> Scorer:
    """SKNN (``by_position`` False) or V-SKNN (True), over every training actor as a neighbour session."""
    sizes = np.sqrt(np.maximum(data.matrix.sum(axis=1), 1.0))
    names = {u: user for user, u in data.user_index.items()}

    def scores_for(u: int) -> npt.NDArray[np.floating]:
        session = data.recent.get(names[u], [])[:SKNN_SESSION]
        if not session:
            return np.zeros(len(data.items))
        n = len(session)
        weights = np.array([1.0 - p / n if by_position else 1.0 for p in range(n)], dtype=np.float32)
        similarity = (data.matrix[:, session] @ weights) / sizes / math.sqrt(n)
        similarity[u] = 0.0  # the actor is not its own neighbour
        nearest = np.argpartition(-similarity, min(neighbours, len(similarity) - 1))[:neighbours]
        result: npt.NDArray[np.floating] = similarity[nearest] @ data.matrix[nearest]
        return result

    return data.scorer(scores_for, k)
