"""Local recommendation sinks: what Segment Personas and Amazon Pinpoint would hold, kept in the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from destinations.local.store import LocalStore
from destinations.sink_input import latest_per_user
from schemas.delivery import DeliveryReport
from schemas.errors import PueError
from schemas.recommendation import Recommendation
from schemas.traits import (
    RECOMMENDED_PRODUCTS,
    deterministic_message_id,
    personas_traits,
    pinpoint_attribute_values,
)


def _publish_each(
    sink: str, recommendations: Sequence[Recommendation], write: Callable[[Recommendation], None]
) -> DeliveryReport:
    """Write user by user; a failure is reported under the user id, the others still get written."""
    latest, failed = latest_per_user(recommendations, service=sink)
    for rec in latest.values():
        try:
            write(rec)
        except PueError as exc:
            failed[rec.key] = exc
    return DeliveryReport(failed)


class LocalPersonasSink:
    """Implements ``ports.RecommendationSink`` like an ``identify`` to Segment Personas.

    The traits replace the previous ones; the stored message id is the same deterministic id the Segment
    sink would send, so a redelivered batch writes the same thing.
    """

    def __init__(self, store: LocalStore) -> None:
        self._store = store

    @property
    def name(self) -> str:
        return "personas"

    @property
    def takes_anonymous(self) -> bool:
        # The local store keeps traits by user; an anonymous visitor's list is answered from its own session
        # at query time (GET /recommendations?userId=<anonymousId>), fresher than any stored copy.
        return False

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return _publish_each(self.name, recommendations, self._write)

    def _write(self, rec: Recommendation) -> None:
        self._store.set_traits(rec.user_id, personas_traits(rec), deterministic_message_id(rec, self.name))


class LocalPinpointSink:
    """Implements ``ports.RecommendationSink`` like UpdateEndpointsBatch to Amazon Pinpoint.

    Local users have exactly one endpoint, ``<user id>-default``; the attribute's values are replaced and
    fit Pinpoint's limits (the same selection the cloud sink sends).
    """

    def __init__(self, store: LocalStore) -> None:
        self._store = store

    @property
    def name(self) -> str:
        return "pinpoint"

    @property
    def takes_anonymous(self) -> bool:
        return False  # as Pinpoint: an endpoint belongs to a user

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return _publish_each(self.name, recommendations, self._write)

    def _write(self, rec: Recommendation) -> None:
        self._store.set_endpoint_attributes(
            rec.user_id,
            default_endpoint_id(rec.user_id),
            {RECOMMENDED_PRODUCTS: pinpoint_attribute_values(rec)},
        )


def default_endpoint_id(user_id: str) -> str:
    return f"{user_id}-default"
