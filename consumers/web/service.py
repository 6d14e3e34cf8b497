"""What the API does, apart from HTTP: recommendations for a query, and one event tracked with a refresh.

Backend-agnostic: a user's list comes from the pipeline (``Pipeline.answer``), so it is computed exactly as
the stream computes it (minus purchased items, filled to numResults); related items from their recommender.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from consumers.stream.intake import normalize_message
from consumers.stream.pipeline import Pipeline
from consumers.web.cache import VersionedCache
from consumers.web.contract import ApiError, bad_request
from consumers.web.validation import RecommendationQuery
from destinations.ports import ItemCatalog, Recommender
from schemas.errors import PermanentError, PoisonRecord
from schemas.outcome import Filtered, Poison
from schemas.recommendation import Recommendation, RecommendationRequest

CacheKey = tuple[str | None, str | None, int, str | None, tuple[tuple[str, str], ...]]
# What CPython spends, measured with tracemalloc (issue 23): a str is 49 bytes plus one per ASCII
# character (76 plus up to 4 per character otherwise); a ScoredItem with its float and its tuple slot about
# 90 more; a Recommendation, its tuple and the key about 400. A 500-item list of 256-character ids measured
# 192,755 bytes, the estimate says 197,900.
_STR_BYTES: Final = 49
_WIDE_STR_BYTES: Final = 76
_ITEM_BYTES: Final = 96
_LIST_BYTES: Final = 400


def _text_bytes(text: str | None) -> int:
    if text is None:
        return 0
    return _STR_BYTES + len(text) if text.isascii() else _WIDE_STR_BYTES + 4 * len(text)


def cached_size(key: CacheKey, recommendation: Recommendation) -> int:
    """An upper estimate of the memory one cache entry holds (``VersionedCache``'s ``size_of``)."""
    size = _LIST_BYTES + _text_bytes(recommendation.user_id) + _text_bytes(recommendation.recommendation_id)
    size += sum(_text_bytes(part) for part in key[:2]) + sum(map(_text_bytes, key[3:4]))
    size += sum(_text_bytes(name) + _text_bytes(value) for name, value in key[4])
    return size + sum(_ITEM_BYTES + _text_bytes(item.item_id) for item in recommendation.items)


class EventInbox(Protocol):
    """Where ``POST /events`` puts a message while the store cannot take it now (a backfill holds it):
    destinations/local/live_inbox.py; drained in order by consumers/web/inbox_drain.py."""

    def busy(self) -> bool: ...

    def put(self, message: Mapping[str, Any], received_at: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Defaults:
    num_results: int
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    filters: Mapping[str, str] = field(default_factory=dict)  # name -> filter ARN


class RecommendationService:
    """``related`` is None when no related-items campaign is configured; ``catalog`` None when no item
    catalog is; ``cache`` only where it is exact (see ``consumers.web.cache``)."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        related: Recommender | None,
        catalog: ItemCatalog | None,
        defaults: Defaults,
        cache: VersionedCache[CacheKey, Recommendation] | None = None,
        inbox: EventInbox | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.inbox = inbox
        self._related = related
        self._catalog = catalog
        self._defaults = defaults
        self._cache = cache

    def recommend(self, query: RecommendationQuery) -> Recommendation:
        if query.include_metadata and self._catalog is None:
            raise bad_request("includeMetadata is not supported with this backend (no item catalog)")
        if query.item_id is not None and self._related is None:
            raise bad_request(
                "itemId without userId asks for related items, and no related-items campaign is "
                "configured (PERSONALIZE_RELATED_ITEMS_CAMPAIGN_ARN)"
            )
        request = self._request(query)
        if self._cache is None:
            return self._compute(request)
        key: CacheKey = (
            request.user_id,
            request.item_id,
            request.num_results,
            request.filter_arn,
            tuple(sorted(request.filter_values.items())),
        )
        return self._cache.get_or_compute(key, lambda: self._compute(request))

    def track(self, message: Mapping[str, Any], num_results: int | None) -> Recommendation:
        """Track one Segment message and refresh its user everywhere; the fresh list. While the store
        cannot take it now (``inbox.busy()``), the message waits in the inbox instead (``_queue``)."""
        if self.inbox is not None and self.inbox.busy():
            return self._queue(self.inbox, message, num_results)
        try:
            return self.pipeline.track_and_refresh(message, num_results or self._defaults.num_results)
        finally:
            # Whatever got written (even on failure), cached lists may predate it.
            if self._cache is not None:
                self._cache.invalidate()

    def _queue(
        self, inbox: EventInbox, message: Mapping[str, Any], num_results: int | None
    ) -> Recommendation:
        """The answer ``track`` would give, with no write to the store: the message is checked as it would be
        (same errors), put in the inbox (a filtered one too: the drain counts it), and the list is the
        model's as it stands (it learns the event when the inbox is drained)."""
        outcome = normalize_message(message, self.pipeline.event_map, datetime.now(UTC))
        if isinstance(outcome, Poison):
            raise PoisonRecord(outcome.reason)
        if isinstance(outcome, Filtered):
            inbox.put(message, time.time())
            raise PermanentError(f"not tracked: {outcome.reason}")  # the reason, never the input behind it
        user_id = outcome.interactions[0].user_id if outcome.interactions else None
        if user_id is None:
            raise PermanentError("an anonymous event has no user to recommend for: set userId")
        inbox.put(message, time.time())
        request = self.pipeline.refresh_request(user_id, num_results or self._defaults.num_results)
        return self._compute(request)

    def require_catalog(self) -> None:
        """400 unless an item catalog is configured (``includeMetadata=true``), before any work."""
        if self._catalog is None:
            raise bad_request("includeMetadata is not supported with this backend (no item catalog)")

    def item_fields(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        return self._catalog.items(item_ids) if self._catalog is not None else {}

    def _request(self, query: RecommendationQuery) -> RecommendationRequest:
        defaults = self._defaults
        if query.filter_name is not None:
            filter_arn = defaults.filters.get(query.filter_name)
            if filter_arn is None:
                raise ApiError(400, "bad_request", "unknown filter: see PUE_FILTERS for the configured names")
            filter_values: Mapping[str, str] = query.filter_values
        else:
            filter_arn = defaults.filter_arn
            filter_values = query.filter_values or defaults.filter_values
            if query.filter_values and filter_arn is None:
                raise bad_request("filterValues need a filter: give filter=NAME")
        return RecommendationRequest(
            user_id=query.user_id,
            item_id=query.item_id,
            num_results=query.num_results or defaults.num_results,
            filter_arn=filter_arn,
            filter_values=dict(filter_values),
        )

    def _compute(self, request: RecommendationRequest) -> Recommendation:
        if request.user_id is None:
            assert self._related is not None  # noqa: S101 - checked by recommend()
            return self._related.get_recommendations(request)
        # The pipeline's own exclusions (the purchase ledger and the Profile API), asking past them so the
        # list keeps numResults items (consumers.stream.filled_list), as the stream's lists do.
        return self.pipeline.answer(request)
