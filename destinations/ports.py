"""Ports: every interface the application talks to, in one place. Each has a local and a cloud adapter,
except ``PurchaseLedger`` (cloud only: the local backend reads purchases from its own store).

The stream's: ``EventTracker``, ``Recommender``, ``PurchaseHistory``, ``PurchaseLedger``,
``RecommendationSink`` (add a sink by implementing it and wiring it in ``consumers.bootstrap.stream``),
``DeadLetterSink``, ``RefreshLedger``. The engagement paths': ``ItemCatalog``, ``EndpointDirectory``,
``SegmentImporter``, ``MessageLedger``.

Contract shared by all ports: methods raise ``RetryableError`` for transient failures, ``ConfigError``
when the deployment is wrong (a denied permission, a revoked token, a missing resource) and
``PermanentError`` (or ``PoisonRecord``) when the input can never succeed; any other exception is a bug.
Batch methods return a ``DeliveryReport`` naming what failed instead of failing the whole batch.
Adapters are thread-safe: the pipeline calls them from a bounded pool, one user's calls in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from schemas.dead_letter import DeadLetter
from schemas.delivery import DeliveryReport
from schemas.interaction import EventBatch
from schemas.recommendation import Recommendation, RecommendationRequest
from schemas.refresh import OwedRefresh
from schemas.segment import ImportedSegment


class EventTracker(Protocol):
    """Records interactions for training and real-time personalization (Personalize PutEvents)."""

    def put_events(self, batch: EventBatch) -> None:
        """Track 1..10 interactions of one session. Idempotent per ``event_id``."""
        ...


class Recommender(Protocol):
    """Ranks items for a user (Personalize GetRecommendations)."""

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        """A fresh ranked list. ``PermanentError`` when the request can never succeed."""
        ...


class PurchaseHistory(Protocol):
    """Items a user already bought (Segment Personas computed trait via the Profile API)."""

    def purchased_items(self, user_id: str) -> frozenset[str]:
        """Empty when the user or the trait is unknown."""
        ...


class PurchaseLedger(Protocol):
    """Items each user bought, kept from the stream's own purchase events (``purchase: true``), so
    purchases are excluded with no Profile API: written and read once per batch (DynamoDB on AWS)."""

    def record(self, purchases: Mapping[str, frozenset[str]]) -> DeliveryReport:
        """Add ``items`` to each user's set (idempotent). Failures are keyed by user id."""
        ...

    def purchased(self, user_ids: Sequence[str]) -> Mapping[str, frozenset[str]]:
        """Each known user's items (absent: nothing bought). Raises ``PueError`` when it cannot tell."""
        ...


class RecommendationSink(Protocol):
    """Writes fresh recommendations where engagement happens (Personas traits, Pinpoint attributes...)."""

    @property
    def name(self) -> str:
        """Short, stable name used in logs and counts (``personas``, ``pinpoint``...)."""
        ...

    @property
    def takes_anonymous(self) -> bool:
        """Whether the sink can hold an anonymous visitor's list (``Recommendation.anonymous``: written under
        its anonymousId). The pipeline gives such lists only to sinks that can, and counts the others."""
        ...

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        """Write every user's list. Idempotent. Failures are keyed by user id."""
        ...


class DeadLetterSink(Protocol):
    """Keeps poison records whole, with the reason, for inspection and redrive."""

    def send(self, letters: Sequence[DeadLetter]) -> DeliveryReport:
        """Store every letter. Failures are keyed by ``DeadLetter.letter_id``."""
        ...


class RefreshLedger(Protocol):
    """When each user's recommendations were last refreshed, shared by every invocation
    (``PUE_REFRESH_MIN_INTERVAL_SECONDS``). Best effort by design: a failed read means "refresh them", a
    failed write means one refresh too many; neither may fail a record."""

    def refreshed_since(self, user_ids: Sequence[str], since: datetime) -> set[str]:
        """The users among ``user_ids`` refreshed at or after ``since``."""
        ...

    def record(self, user_ids: Sequence[str], at: datetime) -> None:
        """Note that ``user_ids`` were refreshed at ``at``; a refresh they were owed is settled by it. A
        user whose recorded refresh is later than ``at`` keeps it (and any mark made since)."""
        ...

    def settle(self, owed: Sequence[OwedRefresh], at: datetime) -> None:
        """A sweep delivered these owed refreshes (read by ``due``) at ``at``: record the refresh and clear
        each mark only while it is still the one the sweep read and no later refresh was recorded, so a
        mark made while the sweep ran survives it. ``refreshed_at`` never moves backwards."""
        ...

    def owe(self, user_ids: Sequence[str], interval: timedelta) -> None:
        """Note that ``user_ids`` (refreshed recently, see ``refreshed_since``) had events since: each is owed
        one refresh, due at its last refresh + ``interval``. A user already owed one keeps it (many skips
        collapse into one refresh). Raises when the mark may not be stored: the caller then refreshes now."""
        ...

    def due(self, now: datetime, limit: int) -> list[OwedRefresh]:
        """Up to ``limit`` owed refreshes due at or before ``now``, earliest first."""
        ...


class ItemCatalog(Protocol):
    """Item metadata shaped like a Personalize items dataset (local store, DynamoDB table)."""

    def items(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        """ITEM_ID -> the item's other fields, for the known ids among ``item_ids``; unknown ids left out."""
        ...


class EndpointDirectory(Protocol):
    """Who can be reached where: a user's Pinpoint endpoint ids (GetUserEndpoints)."""

    def endpoints_for(self, user_id: str) -> list[str]:
        """Every endpoint id of the user, empty when the user has none."""
        ...


class SegmentImporter(Protocol):
    """Turns a list of endpoint ids into a named static segment (Pinpoint CreateImportJob)."""

    def import_segment(self, name: str, endpoint_ids: Sequence[str]) -> ImportedSegment:
        """Start importing; ``PermanentError`` (code ``SegmentTooLarge``) when the file would be too big."""
        ...

    def refresh(self, segment: ImportedSegment) -> ImportedSegment:
        """The import's current status (GetImportJob)."""
        ...


class MessageLedger(Protocol):
    """Remembers which messages were sent, so each user gets at most one per quiet period and a redelivered
    batch never sends twice. ``claim`` before sending; ``release`` when the send failed and may be retried."""

    def claim(self, user_id: str, message_id: str, now: float, quiet_seconds: int) -> bool:
        """True when this message may be sent now (and is recorded as sent); False to skip it."""
        ...

    def release(self, user_id: str, message_id: str) -> None:
        """Forget the claim of ``message_id`` (and only that one), so a retry may send it."""
        ...
