"""The local recommender: incremental item co-occurrence, recency-weighted, decayed popularity fallback.

Learning (``learn``; per new interaction at most ``HISTORY_WINDOW`` pair updates, persisted in SQLite so a
restart keeps the model and nothing is recomputed from scratch):

- The first time an actor (a user, or an anonymous session) meets an item, the item is paired with the
  actor's ``HISTORY_WINDOW`` most recent distinct items: each pair's distinct-actor count grows by one,
  both ways. Repeats of a known item only refresh its recency, so one busy user cannot inflate a pair.
- An item's popularity is its distinct-actor count, decayed by event time with a half-life (forward
  decay, kept as a logarithm so it never overflows and never needs rescaling).

Ranking, in three tiers; the score band tells which tier an item came from, scores are in (0, 1]:

1. (2/3, 1]   items co-occurring with the user's ``ANCHORS`` most recent items. Each anchor votes with
              weight ``RECENCY_DECAY ** rank``, normalised like a cosine similarity so that popular items
              do not win by size alone.
2. (1/3, 2/3] popular items, to fill up to ``num_results`` (the whole list for a cold user).
3. (0, 1/3]   items the user already interacted with but did not buy. They stay allowed, but only after
              everything unseen, so the item just viewed is not pushed back while anything else is left.

Purchased items (``purchase_event_types``) are never returned. With ``item_id`` the only anchor is that
item (related items) and the item itself is never returned. ``filter_arn`` and ``filter_values`` are
ignored: Personalize filters are expressions the service evaluates, with no local equivalent.
"""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from typing import Final

from destinations.local.schema import MODEL_SCHEMA
from destinations.local.store import LocalStore
from schemas.errors import PermanentError
from schemas.interaction import Interaction
from schemas.limits import GET_RECOMMENDATIONS_MAX_RESULTS
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem

DEFAULT_PURCHASE_EVENT_TYPES: Final = frozenset({"Order Completed"})
HISTORY_WINDOW: Final = 50  # a new item pairs with this many recent distinct items: bounds learn cost
ANCHORS: Final = 20  # recent distinct items that vote when ranking: bounds ranking cost
RECENCY_DECAY: Final = 0.85  # the k-th most recent anchor weighs 0.85**k (the 20th: ~0.05)
NEIGHBOURS_PER_ANCHOR: Final = 100  # strongest pairs read per anchor (more when num_results is larger)
SEEN_LIMIT: Final = 1000  # most recent distinct items read per user, to rank seen items last
POPULARITY_HALF_LIFE_SECONDS: Final = 7 * 24 * 60 * 60

_HEAT_RATE: Final = math.log(2) / POPULARITY_HALF_LIFE_SECONDS
_TIERS: Final = 3
_MIN_RELEVANCE: Final = 1e-6  # keeps every score above 0 and the tiers' bands apart
_PAGE: Final = 64
_IN_CHUNK: Final = 500
_SERVICE: Final = "local-recommender"
_RECOMMENDATION_ID_PREFIX: Final = "RID-"  # + 32 hex digits: 36 characters, within Personalize's 40

Ranked = list[tuple[str, float]]  # (item id, relevance in (0, 1])


def new_recommendation_id() -> str:
    """A fresh id per list, short enough for PutEvents' recommendationId."""
    return _RECOMMENDATION_ID_PREFIX + uuid.uuid4().hex


class LocalRecommender:
    """Implements ``ports.Recommender`` over the store's model tables; ``learn`` keeps them current."""

    def __init__(
        self, store: LocalStore, purchase_event_types: frozenset[str] = DEFAULT_PURCHASE_EVENT_TYPES
    ) -> None:
        self._store = store
        self._purchase_event_types = purchase_event_types
        store.ensure_schema(MODEL_SCHEMA)

    def learn(self, interactions: Sequence[Interaction]) -> None:
        """Fold interactions into the model.

        The tracker passes only newly stored ones; even so, a repeat of an item the actor already has only
        refreshes its recency, so pair and popularity counts stay distinct-actor counts.
        """
        with self._store.transaction() as conn:
            row = conn.execute("SELECT value FROM rec_meta WHERE key = 'tick'").fetchone()
            tick = 0 if row is None else int(row[0])
            for it in interactions:
                if it.item_id is None:
                    continue
                tick += 1
                _learn_one(conn, _actor(it), it.item_id, it.sent_at.timestamp(), tick)
            conn.execute(
                "INSERT INTO rec_meta (key, value) VALUES ('tick', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (tick,),
            )

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        """A fresh ranked list; empty when nothing was learned yet. ``PermanentError`` for a bad request."""
        _validate(request)
        with self._store.transaction(write=False) as conn:
            tiers = self._tiers(conn, request)
        items = _scored(tiers, request.num_results)
        return Recommendation(request.user_id or "", new_recommendation_id(), items)

    def _tiers(self, conn: sqlite3.Connection, request: RecommendationRequest) -> list[Ranked]:
        user_id, item_id, wanted = request.user_id, request.item_id, request.num_results
        seen = _seen(conn, user_id) if user_id else []
        excluded = set(
            self._store.item_ids_with_event_types(user_id, self._purchase_event_types) if user_id else ()
        )
        if item_id:
            excluded.add(item_id)
            anchors = [(item_id, 1.0)]
        else:
            anchors = [(item, RECENCY_DECAY**rank) for rank, item in enumerate(seen[:ANCHORS])]
        blocked = excluded | set(seen)
        votes = _votes(conn, anchors, max(NEIGHBOURS_PER_ANCHOR, wanted))
        top_vote = max((v for i, v in votes.items() if i not in blocked), default=0.0)
        related = [(i, v / top_vote) for i, v in votes.items() if i not in blocked]
        if len(related) >= wanted:
            return [related]
        popular = _popular(conn, blocked | {i for i, _ in related}, wanted - len(related))
        if len(related) + len(popular) >= wanted:
            return [related, popular]
        return [related, popular, _heat_of(conn, [i for i in seen if i not in excluded])]


def _validate(request: RecommendationRequest) -> None:
    if not 1 <= request.num_results <= GET_RECOMMENDATIONS_MAX_RESULTS:
        raise PermanentError(
            f"num_results must be 1..{GET_RECOMMENDATIONS_MAX_RESULTS}, got {request.num_results}",
            service=_SERVICE,
            code="InvalidInput",
        )
    if not request.user_id and not request.item_id:
        raise PermanentError("a user id or an item id is required", service=_SERVICE, code="InvalidInput")


def _actor(it: Interaction) -> str:
    # Anonymous events (session only) still teach which items go together.
    return f"u:{it.user_id}" if it.user_id is not None else f"s:{it.session_id}"


def _learn_one(conn: sqlite3.Connection, actor: str, item: str, ts: float, tick: int) -> None:
    # A late event (older than what we have) must not make the item look recent again.
    known = conn.execute(
        "UPDATE rec_actor_items SET tick = CASE WHEN ?1 >= last_ts THEN ?2 ELSE tick END, "
        "last_ts = MAX(last_ts, ?1) WHERE actor = ?3 AND item_id = ?4",
        (ts, tick, actor, item),
    ).rowcount
    if known:
        return
    recent = [
        str(row[0])
        for row in conn.execute(
            "SELECT item_id FROM rec_actor_items WHERE actor = ? ORDER BY last_ts DESC, tick DESC LIMIT ?",
            (actor, HISTORY_WINDOW),
        )
    ]
    conn.executemany(
        "INSERT INTO rec_pairs (item_a, item_b, actors) VALUES (?, ?, 1) "
        "ON CONFLICT (item_a, item_b) DO UPDATE SET actors = actors + 1",
        [(item, other) for other in recent] + [(other, item) for other in recent],
    )
    conn.execute(
        "INSERT INTO rec_actor_items (actor, item_id, last_ts, tick) VALUES (?, ?, ?, ?)",
        (actor, item, ts, tick),
    )
    heat = ts * _HEAT_RATE  # forward decay: later events weigh exponentially more, compared in log space
    row = conn.execute("SELECT log_heat FROM rec_items WHERE item_id = ?", (item,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO rec_items (item_id, actors, log_heat) VALUES (?, 1, ?)", (item, heat))
    else:
        conn.execute(
            "UPDATE rec_items SET actors = actors + 1, log_heat = ? WHERE item_id = ?",
            (_logaddexp(float(row[0]), heat), item),
        )


def _logaddexp(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def _seen(conn: sqlite3.Connection, user_id: str) -> list[str]:
    """The user's distinct items, most recent first."""
    rows = conn.execute(
        "SELECT item_id FROM rec_actor_items WHERE actor = ? ORDER BY last_ts DESC, tick DESC LIMIT ?",
        (f"u:{user_id}", SEEN_LIMIT),
    )
    return [str(row[0]) for row in rows]


def _votes(
    conn: sqlite3.Connection, anchors: Sequence[tuple[str, float]], per_anchor: int
) -> dict[str, float]:
    """Sum over anchors of weight * cosine(anchor, item), from the strongest pairs of each anchor."""
    votes: dict[str, float] = {}
    for anchor, weight in anchors:
        row = conn.execute("SELECT actors FROM rec_items WHERE item_id = ?", (anchor,)).fetchone()
        if row is None:
            continue
        rows = conn.execute(
            "SELECT p.item_b, p.actors, i.actors FROM rec_pairs AS p "
            "JOIN rec_items AS i ON i.item_id = p.item_b "
            "WHERE p.item_a = ? ORDER BY p.actors DESC, p.item_b LIMIT ?",
            (anchor, per_anchor),
        )
        for item, together, item_actors in rows:
            votes[item] = votes.get(item, 0.0) + weight * together / math.sqrt(row[0] * item_actors)
    return votes


def _popular(conn: sqlite3.Connection, skip: set[str], wanted: int) -> Ranked:
    """The hottest items not in ``skip``, relevance relative to the hottest item overall."""
    found: Ranked = []
    cursor = conn.execute("SELECT item_id, log_heat FROM rec_items ORDER BY log_heat DESC, item_id")
    top: float | None = None
    try:
        while len(found) < wanted and (page := cursor.fetchmany(_PAGE)):
            top = page[0][1] if top is None else top
            found.extend((str(i), math.exp(h - top)) for i, h in page if i not in skip)
    finally:
        cursor.close()
    return found[:wanted]


def _heat_of(conn: sqlite3.Connection, item_ids: Sequence[str]) -> Ranked:
    """Popularity relevance of the given items (relative to the hottest item overall)."""
    top_row = conn.execute("SELECT MAX(log_heat) FROM rec_items").fetchone()
    if not item_ids or top_row[0] is None:
        return []
    found: Ranked = []
    for start in range(0, len(item_ids), _IN_CHUNK):
        chunk = item_ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT item_id, log_heat FROM rec_items WHERE item_id IN ({marks})",  # noqa: S608
            chunk,
        )
        found.extend((str(i), math.exp(h - top_row[0])) for i, h in rows)
    return found


def _scored(tiers: Iterable[Ranked], wanted: int) -> tuple[ScoredItem, ...]:
    """Best first: by tier, then relevance, then item id (deterministic); each tier in its score band."""
    items: list[ScoredItem] = []
    for index, tier in enumerate(tiers):
        floor = (_TIERS - 1 - index) / _TIERS
        for item, relevance in sorted(tier, key=lambda pair: (-pair[1], pair[0])):
            if len(items) == wanted:
                return tuple(items)
            score = floor + max(min(relevance, 1.0), _MIN_RELEVANCE) / _TIERS
            items.append(ScoredItem(item, min(score, 1.0)))
    return tuple(items)
