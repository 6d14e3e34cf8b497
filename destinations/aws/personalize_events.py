"""Amazon Personalize event tracker: the cloud ``EventTracker`` (PutEvents).

https://docs.aws.amazon.com/personalize/latest/dg/API_UBS_PutEvents.html
"""

from __future__ import annotations

from typing import Any

from destinations.aws.errors import translated
from schemas.interaction import EventBatch, Interaction
from schemas.limits import PUT_EVENTS_MAX_EVENTS

SERVICE = "personalize-events"


def _event(interaction: Interaction) -> dict[str, Any]:
    """One ``eventList`` item; optional fields are omitted rather than sent empty (Personalize rejects "")."""
    event: dict[str, Any] = {
        "eventId": interaction.event_id,
        "eventType": interaction.event_type,
        "sentAt": interaction.sent_at,
    }
    if interaction.item_id is not None:
        event["itemId"] = interaction.item_id
    if interaction.event_value is not None:
        event["eventValue"] = interaction.event_value
    if interaction.properties is not None:
        event["properties"] = interaction.properties
    if interaction.recommendation_id is not None:
        event["recommendationId"] = interaction.recommendation_id
    if interaction.impression:
        event["impression"] = list(interaction.impression)
    return event


class PersonalizeEventTracker:
    """Sends one session's interactions to a Personalize event tracker in one PutEvents call.

    Idempotent per event: ``eventId`` is the Segment ``messageId``, and Personalize drops repeated event ids
    from training, so a redelivered Kinesis record does no harm. Values were checked against Personalize's
    limits during normalization; a batch size outside 1..10 is a bug in the caller, hence ``ValueError``.
    """

    def __init__(self, client: Any, tracking_id: str) -> None:
        self._client = client
        self._tracking_id = tracking_id

    def put_events(self, batch: EventBatch) -> None:
        count = len(batch.interactions)
        if not 1 <= count <= PUT_EVENTS_MAX_EVENTS:
            raise ValueError(f"PutEvents takes 1..{PUT_EVENTS_MAX_EVENTS} events, got {count}")
        params: dict[str, Any] = {
            "trackingId": self._tracking_id,
            "sessionId": batch.session_id,
            "eventList": [_event(interaction) for interaction in batch.interactions],
        }
        if batch.user_id is not None:
            params["userId"] = batch.user_id
        with translated(SERVICE):
            self._client.put_events(**params)
