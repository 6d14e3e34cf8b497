"""Recommendation requests and results, independent of Personalize's wire shapes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.limits import GET_RECOMMENDATIONS_DEFAULT_RESULTS

# Prefixes an anonymous visitor's ``Recommendation.key``. No tracked id holds a NUL (the stream's normalize
# step poisons the record), so no user's key can equal a visitor's.
ANONYMOUS_KEY_PREFIX = "\x00anonymousId:"


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
    # An anonymous visitor's list: ``user_id`` holds its Segment anonymousId, which Personalize takes as the
    # userId of a visitor recorded with only a sessionId ("Recording events for anonymous users":
    # https://docs.aws.amazon.com/personalize/latest/dg/recording-anonymous-user-events.html). Only sinks
    # that can hold such a list get it (``RecommendationSink.takes_anonymous``).
    anonymous: bool = False
    # A user's list: the anonymousIds its events of the batch carried (the visitor it was before logging
    # in), so a sink can join the visitor's record to the user's (Customer Profiles adopts its profile).
    anonymous_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Who the list is for, unique across users and anonymous visitors alike (an anonymousId may equal
        some user's id): what sinks key their failures by."""
        return f"{ANONYMOUS_KEY_PREFIX}{self.user_id}" if self.anonymous else self.user_id

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.item_id for item in self.items)

    def without(self, excluded: frozenset[str]) -> Recommendation:
        """The same ranking minus ``excluded`` items (e.g. already purchased), order kept."""
        if not excluded:
            return self
        kept = tuple(item for item in self.items if item.item_id not in excluded)
        return dataclasses.replace(self, items=kept)
