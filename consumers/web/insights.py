"""What the local backend knows beyond recommendations: sample users, one user's profile, pipeline counts.

Backs ``GET /users``, ``GET /users/{userId}`` and ``GET /stats`` (the web page's panels). Only the local
backend has these in one place; in AWS they live in Segment Personas, Pinpoint and CloudWatch, and the
routes answer 501 (``consumers.web.user_routes``).
"""

from __future__ import annotations

from typing import Any, Final

from destinations.local import LocalBackend
from destinations.local.messages import messages_for
from schemas.batch import BatchCounts

RECENT_INTERACTIONS: Final = 20  # the profile panel's list; the full history is `pue profile`
RECENT_DEAD_LETTERS: Final = 5
TOP_REASONS: Final = 5


def profile_json(local: LocalBackend, user_id: str, limit: int | None = None) -> dict[str, Any]:
    """Everything the local backend holds for a user (``pue profile``); ``GET /users/{userId}`` asks for
    the ``limit`` most recent interactions only."""
    interactions = [
        {
            "eventId": i.event_id,
            "eventType": i.event_type,
            "itemId": i.item_id,
            "sentAt": i.sent_at.isoformat(timespec="milliseconds"),
            "sessionId": i.session_id,
        }
        for i in local.store.interactions_for(user_id, limit)
    ]
    endpoints = local.store.endpoint_attributes_for(user_id)
    return {
        "userId": user_id,
        "interactions": interactions,
        "traits": local.store.traits_for(user_id),
        "endpointAttributes": endpoints,
        "messages": messages_for(local.store, user_id),
    }


class LocalInsights:
    """Reads over an open ``LocalBackend`` (the API's own: same store, same lock)."""

    def __init__(self, local: LocalBackend) -> None:
        self._local = local

    def users(self, limit: int) -> list[str]:
        """User ids with tracked interactions, most active first."""
        return self._local.store.known_users(limit=limit)

    def profile(self, user_id: str) -> dict[str, Any] | None:
        """What pue holds for the user (as ``pue profile``, recent interactions only); None if nothing.

        Reads the ``RECENT_INTERACTIONS`` newest rows and counts the rest in the index: a user with a
        million interactions costs what one with twenty does (issue 23: 0.48 s for a heavy user)."""
        profile = profile_json(self._local, user_id, limit=RECENT_INTERACTIONS)
        interactions: list[dict[str, Any]] = profile["interactions"]
        if not (interactions or profile["traits"] or profile["endpointAttributes"] or profile["messages"]):
            return None
        recent = interactions[::-1]  # newest first
        return {
            "userId": user_id,
            "interactionCount": self._local.store.user_interaction_count(user_id) if interactions else 0,
            "interactions": recent,
            "items": self._local.store.items([i["itemId"] for i in recent if i["itemId"] is not None]),
            "traits": profile["traits"],
            "endpointAttributes": profile["endpointAttributes"],
            "messages": profile["messages"],
        }

    def stats(self) -> dict[str, Any]:
        totals = self._local.stats.totals()
        store = self._local.store
        return {
            **_counts(totals),
            "filterReasons": _top(totals.filter_reasons),
            "deadLetterReasons": _top(totals.dead_letter_reasons),
            "failureReasons": _top(totals.failure_reasons),
            "unmappedEvents": [
                {"name": name, "count": count}
                for name, count in sorted(totals.unmapped_events.items(), key=lambda kv: (-kv[1], kv[0]))[
                    :TOP_REASONS
                ]
            ],
            "deadLetters": {
                "stored": store.dead_letter_count(),
                "recent": [
                    {"reason": d.reason, "shardId": d.shard_id, "sequenceNumber": d.sequence_number}
                    for d in store.dead_letters(limit=RECENT_DEAD_LETTERS)
                ],
            },
        }


def _counts(totals: BatchCounts) -> dict[str, int]:
    """``summary()`` with the API's camelCase names (dead_lettered -> deadLettered)."""
    return {_camel(name): value for name, value in totals.summary().items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _top(reasons: dict[str, int]) -> list[dict[str, Any]]:
    ranked = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    return [{"reason": reason, "count": count} for reason, count in ranked]
