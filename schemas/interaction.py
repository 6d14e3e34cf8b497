"""An interaction: one user/item event as Personalize tracks it, normalized from a Segment message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Interaction:
    """One event for PutEvents and for the local store.

    ``event_id`` is the Segment ``messageId`` (or a deterministic derivation of it for multi-product
    events), so a redelivered record produces the same id and Personalize drops the repeat from training.
    ``sent_at`` is timezone-aware. ``properties`` is the JSON object text Personalize expects, already
    checked against its length limit.
    """

    event_id: str
    event_type: str
    session_id: str
    sent_at: datetime
    user_id: str | None = None
    item_id: str | None = None
    event_value: float | None = None
    properties: str | None = None
    recommendation_id: str | None = None
    impression: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventBatch:
    """At most ``PUT_EVENTS_MAX_EVENTS`` interactions of one (user, session), in arrival order."""

    session_id: str
    user_id: str | None
    interactions: tuple[Interaction, ...]
