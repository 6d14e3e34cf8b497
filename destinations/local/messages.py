"""Local twin of the Pinpoint message sink: the message is rendered and kept in the store instead of sent.

Same rules as the cloud sink: one message per user and refresh cause (a redelivered batch adds nothing), at
most one per user per quiet period, nothing for a user with no recommended items. The rendering is a small
subset of Pinpoint's template syntax: ``{{name}}`` and ``{{Attributes.name}}`` are replaced by the
substitution's values (comma-joined); unknown variables render empty.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from destinations.engagement_content import DetailSpec, catalog_items, message_id, message_substitutions
from destinations.local.store import LocalStore
from destinations.ports import ItemCatalog
from destinations.sink_input import latest_per_user
from schemas.delivery import DeliveryReport
from schemas.errors import PueError
from schemas.recommendation import Recommendation

SERVICE: Final = "local-messages"
DEFAULT_LOCAL_BODY: Final = "Recommended for you: {{recommended_products}}"

MESSAGES_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS engagement_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,         -- one per user and refresh cause: redelivery adds nothing
    user_id TEXT NOT NULL,
    sent_ts REAL NOT NULL,                   -- epoch seconds
    channel TEXT NOT NULL,
    template TEXT NOT NULL,
    body TEXT NOT NULL,                      -- as rendered
    substitutions TEXT NOT NULL              -- JSON object of string lists, as SendUsersMessages would carry
);
CREATE INDEX IF NOT EXISTS engagement_messages_by_user ON engagement_messages (user_id, sent_ts);
"""

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


class LocalMessageSink:
    """Implements ``ports.RecommendationSink`` like ``PinpointMessageSink``, over the local store."""

    name = "messages"
    takes_anonymous = False  # as its Pinpoint twin: a message needs a user's endpoint

    def __init__(
        self,
        store: LocalStore,
        *,
        template: str,
        channel: str = "EMAIL",
        quiet_seconds: int = 86_400,
        catalog: ItemCatalog | None = None,
        details: DetailSpec | None = None,
        body: str = DEFAULT_LOCAL_BODY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        store.ensure_schema(MESSAGES_SCHEMA)
        self._store = store
        self._template = template
        self._channel = channel
        self._quiet_seconds = quiet_seconds
        self._catalog: ItemCatalog = catalog if catalog is not None else store
        self._details = details or DetailSpec()
        self._body = body
        self._clock = clock

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        latest, failed = latest_per_user(recommendations, service=SERVICE)
        for user_id, recommendation in latest.items():
            if not recommendation.items:
                continue
            try:
                self._deliver(recommendation)
            except PueError as error:
                failed[user_id] = error
        return DeliveryReport(failed)

    def _deliver(self, recommendation: Recommendation) -> None:
        items = catalog_items(self._catalog, recommendation.item_ids, self._details)
        substitutions = message_substitutions(recommendation, items, self._details)
        mid = message_id(recommendation)
        now = self._clock()
        with self._store.transaction() as conn:
            if conn.execute("SELECT 1 FROM engagement_messages WHERE message_id = ?", (mid,)).fetchone():
                return
            last = conn.execute(
                "SELECT MAX(sent_ts) FROM engagement_messages WHERE user_id = ?", (recommendation.user_id,)
            ).fetchone()[0]
            if last is not None and last >= now - self._quiet_seconds:
                return
            conn.execute(
                "INSERT INTO engagement_messages (message_id, user_id, sent_ts, channel, template, body, "
                "substitutions) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    mid,
                    recommendation.user_id,
                    now,
                    self._channel,
                    self._template,
                    render(self._body, substitutions),
                    json.dumps(substitutions, ensure_ascii=False),
                ),
            )


def render(text: str, substitutions: Mapping[str, Sequence[str]]) -> str:
    """Replace ``{{name}}`` / ``{{Attributes.name}}`` with the values of ``name``, comma-joined."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).removeprefix("Attributes.")
        return ", ".join(v for v in substitutions.get(name, ()) if v)

    return _VARIABLE.sub(value, text)


def messages_for(store: LocalStore, user_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The user's rendered messages, newest first (for ``pue profile``)."""
    store.ensure_schema(MESSAGES_SCHEMA)
    with store.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT message_id, sent_ts, channel, template, body, substitutions FROM engagement_messages "
            "WHERE user_id = ? ORDER BY sent_ts DESC, seq DESC LIMIT ?",
            (user_id, limit),
        ).fetchall()
    return [
        {
            "messageId": row[0],
            "sentAt": datetime.fromtimestamp(row[1], UTC).isoformat(timespec="milliseconds"),
            "channel": row[2],
            "template": row[3],
            "body": row[4],
            "substitutions": json.loads(row[5]),
        }
        for row in rows
    ]
