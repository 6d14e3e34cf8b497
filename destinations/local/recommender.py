"""The local recommender: incremental item co-occurrence, recency-weighted, decayed popularity fallback.

Learning is in ``destinations.local.model_learning`` (per new (actor, item) at most ``2 * window`` pair
increments, sorted per batch and upserted in one pass, persisted in SQLite so a restart keeps the model and
nothing is recomputed from scratch).

Ranking, in three tiers; the score band tells which tier an item came from, scores are in (0, 1]:

1. (2/3, 1]   items co-occurring with the user's ``anchors`` most recent items. Each anchor votes with
              weight ``decay ** rank`` over its full neighbour list: the pair's co-occurrences less
              ``lift`` times what chance alone would give (anchor's actors x item's actors / all actors),
              divided by the anchor's actors ** ``anchor_damping`` and the item's actors ** ``damping``
              (0.5 and 0.5 with no lift would be a cosine). A pair at or below chance still counts a
              tenth of its co-occurrences, so every co-occurring item stays related.
              For a user or an anonymous visitor, the session neighbours' votes
              (``destinations.local.session_neighbours``: the actors whose recent items look most like
              this history vote theirs, V-SKNN-like) are added, each list relative to its best vote, the
              neighbours' times ``session_weight`` (times ``session_history`` / the history's length
              when it is longer: a user's long history speaks through its co-occurrence votes). The
              best-voted items are then re-ranked with
              ``popularity_weight`` times their time-decayed popularity (event time), relative to the
              hottest item.
2. (1/3, 2/3] popular items (time-decayed), to fill up to ``num_results`` (the whole list for a cold user).
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
from dataclasses import dataclass
from typing import Final

from destinations.local import model_rebuild
from destinations.local.model_learning import LearnLimits, learn_batch
from destinations.local.schema import MODEL_SCHEMA
from destinations.local.session_neighbours import (
    NEIGHBOUR_MAX_ITEMS,
    SESSION_ITEMS,
    merged,
    neighbour_votes,
)
from destinations.local.store import LocalStore
from schemas.errors import PermanentError
from schemas.interaction import Interaction
from schemas.limits import GET_RECOMMENDATIONS_MAX_RESULTS
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem

DEFAULT_PURCHASE_EVENT_TYPES: Final = frozenset({"Order Completed"})
HISTORY_WINDOW: Final = 20  # a new item pairs with this many recent distinct items: bounds learn cost
ANCHORS: Final = 50  # recent distinct items that vote when ranking: bounds ranking cost
# The k-th most recent anchor weighs 0.85**k (the 15th: ~0.09): the last few clicks lead, a long history
# still votes (make eval, issue 22: the best mean over every set's validation split, users and anonymous).
RECENCY_DECAY: Final = 0.85
NEIGHBOURS: Final = 100  # strongest neighbours kept per item: bounds the model's size and a query's reads
SEEN_LIMIT: Final = 1000  # most recent distinct items read per user, to rank seen items last
# A vote for item i is divided by (distinct actors of i) ** POPULARITY_DAMPING: 0.5 is a cosine, 0 raw
# co-occurrence counts; in between, popular items are not pushed down as hard as by a cosine.
POPULARITY_DAMPING: Final = 0.2
ANCHOR_DAMPING: Final = 0.6  # an anchor's votes are divided by its distinct actors ** this (0.5: cosine)
# A pair's co-occurrences count above chance: minus LIFT x (anchor's actors x item's actors / all actors),
# so an item that is merely popular with everyone gets less of every anchor's vote (make eval: 1.25).
LIFT: Final = 1.25
LIFT_FLOOR: Final = 0.1  # ... but a pair never counts for less than this share of its co-occurrences
# + this * the item's decayed popularity / the hottest item's, per vote / top (0.15 until the session
# neighbours: with them 0.25 had the best mean over every protocol's validation split, issue 22)
POPULARITY_WEIGHT: Final = 0.25
CANDIDATES: Final = 50  # best-voted items re-ranked with popularity (beyond the blocked ones)
SESSION_NEIGHBOURS: Final = 100  # most similar other actors whose items vote (session_neighbours.py)
# The session neighbours' votes (relative to their best) count this much against the co-occurrence votes
# (relative to theirs): 0 turns them off. make eval (issue 22): 3 with popularity weight 0.25 had the best
# mean over every protocol's validation split (0.1598 without the neighbours, 0.1637 with them).
SESSION_WEIGHT: Final = 3.0
# A history longer than this many distinct items gets the neighbours' weight times SESSION_HISTORY / its
# length (0: off): a few recent clicks are the whole story of a visitor, not of a long-time user, whose
# co-occurrence votes over 50 anchors carry its long-term taste. make eval (issue 22, third round): 3 had
# the best mean over every protocol's validation split (0.1637 with no such scaling, 0.1663).
SESSION_HISTORY: Final = 3

_TIERS: Final = 3
_MIN_RELEVANCE: Final = 1e-6  # keeps every score above 0 and the tiers' bands apart
_PAGE: Final = 64
_IN_CHUNK: Final = 500
_SERVICE: Final = "local-recommender"
_RECOMMENDATION_ID_PREFIX: Final = "RID-"  # + 32 hex digits: 36 characters, within Personalize's 40

Ranked = list[tuple[str, float]]  # (item id, relevance in (0, 1])
Seen = tuple[int, str, int, float]  # (model item id, item id, distinct actors, latest time)


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """The model's knobs; the defaults are the constants above (picked on ``make eval``'s validation)."""

    window: int = HISTORY_WINDOW
    anchors: int = ANCHORS
    decay: float = RECENCY_DECAY
    neighbours: int = NEIGHBOURS
    popularity_weight: float = POPULARITY_WEIGHT
    damping: float = POPULARITY_DAMPING
    anchor_damping: float = ANCHOR_DAMPING
    lift: float = LIFT
    candidates: int = CANDIDATES
    session_neighbours: int = SESSION_NEIGHBOURS
    session_weight: float = SESSION_WEIGHT
    session_items: int = SESSION_ITEMS
    neighbour_max_items: int = NEIGHBOUR_MAX_ITEMS
    session_history: int = SESSION_HISTORY

    @property
    def learn_limits(self) -> LearnLimits:
        return LearnLimits(self.window, self.neighbours, slack=max(1, self.neighbours // 2))


def new_recommendation_id() -> str:
    """A fresh id per list, short enough for PutEvents' recommendationId."""
    return _RECOMMENDATION_ID_PREFIX + uuid.uuid4().hex


class LocalRecommender:
    """Implements ``ports.Recommender`` over the store's model tables; ``learn`` keeps them current."""

    def __init__(
        self,
        store: LocalStore,
        purchase_event_types: frozenset[str] = DEFAULT_PURCHASE_EVENT_TYPES,
        parameters: ModelParameters | None = None,
    ) -> None:
        self._store = store
        self._purchase_event_types = purchase_event_types
        self._parameters = parameters or ModelParameters()
        store.ensure_schema(MODEL_SCHEMA)
        store.ensure_event_type_index(purchase_event_types)
        model_rebuild.add_actor_sizes(store)  # a store written before the session neighbours: once
        # A store whose model never learned its interactions (written before model_* existed): once.
        model_rebuild.rebuild_if_unlearned(store, self._parameters.learn_limits)
        with store.transaction(write=False) as conn:
            _ensure_pow(conn)

    def learn(self, interactions: Sequence[Interaction]) -> None:
        """Fold interactions into the model (one transaction, joined with the caller's if any).

        The tracker passes only newly stored ones; even so, a repeat of an item the actor already has only
        refreshes its recency, so pair and popularity counts stay distinct-actor counts.
        """
        with self._store.transaction() as conn:
            learn_batch(conn, interactions, self._parameters.learn_limits)

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        """A fresh ranked list; empty when nothing was learned yet. ``PermanentError`` for a bad request."""
        _validate(request)
        with self._store.transaction(write=False) as conn:
            tiers = self._tiers(conn, request)
        items = _scored(tiers, request.num_results)
        return Recommendation(request.user_id or "", new_recommendation_id(), items)

    def _tiers(self, conn: sqlite3.Connection, request: RecommendationRequest) -> list[Ranked]:
        user_id, item_id, wanted = request.user_id, request.item_id, request.num_results
        own = _actors_of(conn, user_id) if user_id else []
        seen = _seen(conn, own)
        excluded = set(
            self._store.item_ids_with_event_types(user_id, self._purchase_event_types) if user_id else ()
        )
        if item_id:
            excluded.add(item_id)
            row = conn.execute("SELECT id, actors FROM model_items WHERE item_id = ?", (item_id,)).fetchone()
            anchors = [] if row is None else [(int(row[0]), 1.0, int(row[1]))]
        else:
            anchors = _anchors(seen, self._parameters)
        seen_ids = [name for _, name, _, _ in seen]
        blocked = excluded | set(seen_ids)
        weight = 0.0 if item_id else self._parameters.popularity_weight
        limit = wanted + len(blocked) + (self._parameters.candidates if weight > 0 else 0)
        votes = _votes(conn, anchors, self._parameters, limit)
        share = 0.0 if item_id else self._parameters.session_weight
        history = self._parameters.session_history
        if history and len(seen) > history:
            share *= history / len(seen)
        if share > 0:
            votes = merged(votes, self._session_votes(conn, own, seen, limit), share)
        related = _blended(votes, blocked, weight, _top_heat(conn))[:wanted]
        if len(related) >= wanted:
            return [related]
        popular = _popular(conn, blocked | {i for i, _ in related}, wanted - len(related))
        if len(related) + len(popular) >= wanted:
            return [related, popular]
        return [related, popular, _heat_of(conn, [i for i in seen_ids if i not in excluded])]

    def _session_votes(
        self, conn: sqlite3.Connection, own: list[int], seen: Sequence[Seen], limit: int
    ) -> list[tuple[str, float, float]]:
        recent = [item for item, _, _, _ in seen]
        params = self._parameters
        return neighbour_votes(
            conn,
            own,
            recent,
            params.decay,
            params.session_neighbours,
            limit,
            params.session_items,
            params.neighbour_max_items,
        )


def _anchors(
    seen: Sequence[tuple[int, str, int, float]], params: ModelParameters
) -> list[tuple[int, float, int]]:
    """(item, weight, distinct actors) of the most recent ``params.anchors`` items: ``decay ** rank``."""
    return [
        (item, params.decay**rank, actors) for rank, (item, _, actors, _) in enumerate(seen[: params.anchors])
    ]


def _blended(
    votes: Sequence[tuple[str, float, float]], blocked: set[str], weight: float, top_heat: float | None
) -> Ranked:
    """Unblocked voted items by vote / top vote + weight * heat / hottest heat, relevance in (0, 1]."""
    kept = [(i, v, h) for i, v, h in votes if i not in blocked]
    if not kept:
        return []
    top_vote = max(v for _, v, _ in kept)
    top_heat = max(h for _, _, h in kept) if top_heat is None else top_heat
    scored = sorted(
        ((i, v / top_vote + weight * math.exp(h - top_heat)) for i, v, h in kept),
        key=lambda pair: (-pair[1], pair[0]),
    )
    top = scored[0][1]
    return [(i, s / top) for i, s in scored]


def _ensure_pow(conn: sqlite3.Connection) -> None:
    """SQLite's ``pow`` is an optional build feature (SQLITE_ENABLE_MATH_FUNCTIONS): add it when absent."""
    try:
        conn.execute("SELECT pow(2, 0.5)").fetchone()
    except sqlite3.OperationalError:
        conn.create_function("pow", 2, math.pow, deterministic=True)


def _validate(request: RecommendationRequest) -> None:
    if not 1 <= request.num_results <= GET_RECOMMENDATIONS_MAX_RESULTS:
        raise PermanentError(
            f"num_results must be 1..{GET_RECOMMENDATIONS_MAX_RESULTS}, got {request.num_results}",
            service=_SERVICE,
            code="InvalidInput",
        )
    if not request.user_id and not request.item_id:
        raise PermanentError("a user id or an item id is required", service=_SERVICE, code="InvalidInput")


def _actors_of(conn: sqlite3.Connection, user_id: str) -> list[int]:
    """The model actors whose history is ``user_id``'s: the user and the anonymous sessions it identified
    from (``model_links``); an id never seen as a userId is an anonymous visitor's session, as Personalize
    answers a sessionId passed as the userId."""
    found = dict(
        conn.execute(
            "SELECT actor, id FROM model_actors WHERE actor IN (?, ?)", (f"u:{user_id}", f"s:{user_id}")
        ).fetchall()
    )
    user = found.get(f"u:{user_id}")
    if user is None:
        session = found.get(f"s:{user_id}")
        return [] if session is None else [int(session)]
    linked = conn.execute("SELECT session FROM model_links WHERE user = ?", (user,)).fetchall()
    return [int(user), *(int(row[0]) for row in linked)]


def _seen(conn: sqlite3.Connection, actors: Sequence[int]) -> list[tuple[int, str, int, float]]:
    """The distinct items (id, item id, distinct actors, latest time) of the model actors (a user with
    its linked sessions, or an anonymous visitor), most recent first."""
    if not actors:
        return []
    marks = ", ".join("?" * len(actors))
    rows = conn.execute(
        "SELECT h.item, i.item_id, i.actors, h.last_ts FROM model_history AS h "  # noqa: S608 - placeholders
        f"JOIN model_items AS i ON i.id = h.item WHERE h.actor IN ({marks}) "
        "ORDER BY h.last_ts DESC, h.tick DESC LIMIT ?",
        (*actors, SEEN_LIMIT),
    )
    if len(actors) == 1:
        return [(int(row[0]), str(row[1]), int(row[2]), float(row[3])) for row in rows]
    seen: dict[int, tuple[int, str, int, float]] = {}
    for item, name, count, ts in rows:  # an item the user and a session both have: its latest time counts
        seen.setdefault(int(item), (int(item), str(name), int(count), float(ts)))
    return list(seen.values())


def _votes(
    conn: sqlite3.Connection, anchors: Sequence[tuple[int, float, int]], params: ModelParameters, limit: int
) -> list[tuple[str, float, float]]:
    """(item id, vote, log heat), best vote first, for anchors (id, weight, distinct actors): over each
    anchor's full neighbour list, the sum of weight * max(co-occurrences - lift * anchor's actors * item's
    actors / all actors, LIFT_FLOOR * co-occurrences) / anchor's actors ** ``anchor_damping``, divided by
    the item's actors ** ``damping``.

    One statement: SQLite walks each anchor's slice of the pair table and sums in C, so a query costs one
    B-tree range per anchor, whatever the number of neighbours; the per-anchor factors are computed here.
    "All actors" is the largest actor id (ids are dense and never reused): one B-tree descent, not a count.
    """
    if not anchors:
        return []
    everyone = float(conn.execute("SELECT MAX(id) FROM model_actors").fetchone()[0] or 1)
    values = ", ".join("(?, ?, ?)" for _ in anchors)
    terms: list[float] = []
    for anchor, weight, actors in anchors:
        actors = max(actors, 1)
        terms += (anchor, weight * actors**-params.anchor_damping, params.lift * actors / everyone)
    rows = conn.execute(
        f"WITH anchor (id, factor, chance) AS (VALUES {values}) "  # noqa: S608 - only placeholders formatted
        "SELECT i.item_id, SUM(anchor.factor * MAX(p.actors - anchor.chance * i.actors, ? * p.actors)) "
        "* pow(i.actors, ?) AS vote, i.log_heat "
        "FROM anchor JOIN model_pairs AS p ON p.a = anchor.id JOIN model_items AS i ON i.id = p.b "
        "GROUP BY p.b ORDER BY vote DESC, i.item_id LIMIT ?",
        (*terms, LIFT_FLOOR, -params.damping, limit),
    )
    return [(str(item), float(vote), float(heat)) for item, vote, heat in rows]


def _popular(conn: sqlite3.Connection, skip: set[str], wanted: int) -> Ranked:
    """The hottest items not in ``skip``, relevance relative to the hottest item overall."""
    found: Ranked = []
    cursor = conn.execute(
        "SELECT item_id, log_heat FROM model_items WHERE actors > 0 ORDER BY log_heat DESC, item_id"
    )
    top: float | None = None
    try:
        while len(found) < wanted and (page := cursor.fetchmany(_PAGE)):
            top = page[0][1] if top is None else top
            found.extend((str(i), math.exp(h - top)) for i, h in page if i not in skip)
    finally:
        cursor.close()
    return found[:wanted]


def _top_heat(conn: sqlite3.Connection) -> float | None:
    """The hottest item's log heat (None before anything was learned)."""
    row = conn.execute("SELECT MAX(log_heat) FROM model_items WHERE actors > 0").fetchone()
    return None if row[0] is None else float(row[0])


def _heat_of(conn: sqlite3.Connection, item_ids: Sequence[str]) -> Ranked:
    """Popularity relevance of the given items (relative to the hottest item overall)."""
    top = _top_heat(conn)
    if not item_ids or top is None:
        return []
    found: Ranked = []
    for start in range(0, len(item_ids), _IN_CHUNK):
        chunk = item_ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT item_id, log_heat FROM model_items WHERE item_id IN ({marks})",  # noqa: S608
            chunk,
        )
        found.extend((str(i), math.exp(h - top)) for i, h in rows)
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
