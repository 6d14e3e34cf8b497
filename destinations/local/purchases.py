"""Local ``PurchaseHistory``: the items a user has purchase events for, read from tracked interactions."""

from __future__ import annotations

from destinations.local.recommender import DEFAULT_PURCHASE_EVENT_TYPES
from destinations.local.store import LocalStore


class LocalPurchaseHistory:
    """Implements ``ports.PurchaseHistory``. The cloud twin reads a Personas computed trait instead."""

    def __init__(
        self, store: LocalStore, purchase_event_types: frozenset[str] = DEFAULT_PURCHASE_EVENT_TYPES
    ) -> None:
        self._store = store
        self._purchase_event_types = purchase_event_types
        store.ensure_event_type_index(purchase_event_types)

    def purchased_items(self, user_id: str) -> frozenset[str]:
        return self._store.item_ids_with_event_types(user_id, self._purchase_event_types)
