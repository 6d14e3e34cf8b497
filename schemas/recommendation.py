"""Recommendation requests and results, independent of Personalize's wire shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.limits import GET_RECOMMENDATIONS_DEFAULT_RESULTS


@dataclass(frozen=True, slots=True)
class RecommendationRequest:
    """Ask for items for a user (or items related to ``item_id`` when no user is given)."""

    user_id: str | None
    num_results: int = GET_RECOMMENDATIONS_DEFAULT_RESULTS
    item_id: str | None = None
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScoredItem:
    item_id: str
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A ranked list. ``recommendation_id`` lets later events attribute clicks to this list."""

    user_id: str
    recommendation_id: str
    items: tuple[ScoredItem, ...]
    # What caused this refresh (the user's last event id in the batch). Sinks derive deterministic
    # message ids from it, so a redelivered batch writes the same messages and is deduplicated.
    refresh_key: str = ""

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.item_id for item in self.items)

    def without(self, excluded: frozenset[str]) -> Recommendation:
        """The same ranking minus ``excluded`` items (e.g. already purchased), order kept."""
        if not excluded:
            return self
        kept = tuple(item for item in self.items if item.item_id not in excluded)
        return Recommendation(self.user_id, self.recommendation_id, kept, self.refresh_key)
