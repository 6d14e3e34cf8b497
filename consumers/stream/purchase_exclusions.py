"""What each refreshed user already bought, so the pipeline never recommends it again (``purchase: true``).

Two sources, either or both: the purchase ledger (``PUE_PURCHASE_LEDGER_TABLE``: the stream's own purchase
events, written and read once per batch) and the Segment Profile API (a computed trait, one read per user;
optional). A batch first records its own purchases, then reads the ledger for every user it refreshes, so a
purchase excludes its item from the very refresh its event triggers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from destinations.ports import PurchaseHistory, PurchaseLedger
from schemas.errors import PueError, RetryableError
from schemas.interaction import Interaction


@dataclass(slots=True)
class BatchPurchases:
    """The ledger's answer for one batch: items per user, and the users it could not serve (their records
    are retried with this error)."""

    items: Mapping[str, frozenset[str]] = field(default_factory=dict)
    failures: dict[str, PueError] = field(default_factory=dict)

    def raise_for(self, user_id: str | None) -> None:
        """Raise the error that kept the ledger from serving ``user_id``, if any."""
        if user_id is not None and user_id in self.failures:
            raise self.failures[user_id]


class PurchaseExclusions:
    def __init__(
        self,
        ledger: PurchaseLedger | None,
        history: PurchaseHistory | None,
        purchase_event_types: frozenset[str],
    ) -> None:
        self._ledger = ledger
        self._history = history
        self._types = purchase_event_types

    def prepare(self, interactions: Iterable[Interaction], refresh_users: Sequence[str]) -> BatchPurchases:
        """Record the batch's purchases in the ledger, then read the ledger for ``refresh_users``."""
        if self._ledger is None:
            return BatchPurchases()
        bought: dict[str, set[str]] = {}
        for interaction in interactions:
            if interaction.event_type in self._types and interaction.user_id and interaction.item_id:
                bought.setdefault(interaction.user_id, set()).add(interaction.item_id)
        result = BatchPurchases()
        if bought:
            report = self._ledger.record({user: frozenset(items) for user, items in bought.items()})
            result.failures.update(report.failed)
        readers = [user for user in dict.fromkeys(refresh_users) if user not in result.failures]
        if readers:
            try:
                result.items = self._ledger.purchased(readers)
            except PueError as error:
                result.failures.update(dict.fromkeys(readers, error))
            except Exception as error:  # a bug must not lose the batch: its users are retried
                internal = RetryableError(
                    f"internal error: {type(error).__name__}", service="purchase-ledger"
                )
                result.failures.update(dict.fromkeys(readers, internal))
        return result

    def excluded(self, user_id: str, batch: BatchPurchases) -> frozenset[str]:
        """Every item ``user_id`` bought, from both sources (the Profile API is read here, per user)."""
        items = batch.items.get(user_id, frozenset())
        if self._history is not None:
            items = items | self._history.purchased_items(user_id)
        return items


class OneUserPurchases:
    """Both sources read for one user at a time, as a ``PurchaseHistory``: for callers that look users up
    one by one (the Pinpoint campaign hook), which otherwise would see the Profile API's purchases only and
    recommend what the purchase ledger knows was bought. A ledger that cannot answer raises its error."""

    def __init__(self, exclusions: PurchaseExclusions) -> None:
        self._exclusions = exclusions

    def purchased_items(self, user_id: str) -> frozenset[str]:
        batch = self._exclusions.prepare((), [user_id])
        batch.raise_for(user_id)
        return self._exclusions.excluded(user_id, batch)
