"""Lambda entry point for an Amazon Pinpoint campaign hook in ``FILTER`` mode: enriches the endpoints.

Pinpoint sends ``{ApplicationId, CampaignId, TreatmentId, ActivityId, ScheduledTime, Endpoints}`` (at most 50
endpoints) right before it sends a campaign, and uses the endpoints map the function answers within 15 s.
Every endpoint comes back under its own key; an endpoint with ``User.UserId`` gains
``Attributes.recommended_products`` and the per-rank item details a template reads
(``{{Attributes.recommended_item_1_name}}``). Endpoints without a user, whose lookup failed, or whose user
was not ready before the deadline come back unchanged: a campaign is never held up or emptied by pue.
https://docs.aws.amazon.com/pinpoint/latest/developerguide/segments-dynamic.html
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Final

from consumers.stream.filled_list import filled
from destinations.engagement_content import (
    DetailSpec,
    catalog_items,
    is_engagement_attribute,
    pinpoint_attributes,
)
from destinations.ports import ItemCatalog, PurchaseHistory, Recommender
from schemas.errors import PueError
from schemas.limits import GET_RECOMMENDATIONS_DEFAULT_RESULTS, PINPOINT_CAMPAIGN_HOOK_MAX_ENDPOINTS
from schemas.recommendation import RecommendationRequest
from schemas.traits import RECOMMENDED_PRODUCTS

log = logging.getLogger("pue.campaign_hook")
Attributes = dict[str, list[str]]
# Kept back from Lambda's remaining time: the answer still has to be serialized and returned.
RESPONSE_MARGIN_SECONDS: Final = 0.5


class CampaignHook:
    """Enriches a campaign hook event's endpoints; one recommendation call per distinct user, concurrently.

    The pool outlives a call on purpose: a user still running at the deadline is left behind (its endpoint
    goes back unchanged) instead of holding up the answer, and its thread finishes on its own.
    """

    def __init__(
        self,
        recommender: Recommender,
        *,
        catalog: ItemCatalog | None = None,
        details: DetailSpec | None = None,
        purchases: PurchaseHistory | None = None,
        num_results: int = GET_RECOMMENDATIONS_DEFAULT_RESULTS,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        timeout_seconds: float = 12.0,
        max_workers: int = 16,
        clock: Callable[[], float] = time.monotonic,
        widen_for_exclusions: bool = True,
    ) -> None:
        """``widen_for_exclusions``: ask past the purchases (``consumers.stream.filled_list``); off where
        the recommender leaves purchases out itself (local)."""
        self._recommender = recommender
        self._widen = widen_for_exclusions
        self._catalog = catalog
        self._details = details or DetailSpec()
        self._purchases = purchases
        self._num_results = num_results
        self._filter_arn = filter_arn
        self._filter_values = dict(filter_values or {})
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="pue-hook")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def enrich(self, event: Mapping[str, Any], *, budget_seconds: float | None = None) -> dict[str, Any]:
        """The event's endpoints map, same keys, enriched where possible within the time budget."""
        started = self._clock()
        endpoints = event.get("Endpoints") if isinstance(event, Mapping) else None
        if not isinstance(endpoints, Mapping):
            log.error("campaign hook event has no Endpoints map; answering with none")
            return {}
        if len(endpoints) > PINPOINT_CAMPAIGN_HOOK_MAX_ENDPOINTS:
            log.warning(
                "more endpoints than Pinpoint sends at once", extra={"fields": {"endpoints": len(endpoints)}}
            )
        users = {user for endpoint in endpoints.values() if (user := user_id_of(endpoint))}
        futures = {user: self._pool.submit(self._attributes_for, user) for user in users}
        budget = (
            self._timeout_seconds if budget_seconds is None else min(budget_seconds, self._timeout_seconds)
        )
        wait(futures.values(), timeout=max(0.0, budget - (self._clock() - started)))
        ready, counts = self._collect(futures)
        answer = {
            key: with_attributes(endpoint, ready[user])
            if (user := user_id_of(endpoint)) in ready
            else endpoint
            for key, endpoint in endpoints.items()
        }
        counts.update(
            endpoints=len(endpoints),
            enriched=sum(1 for endpoint in endpoints.values() if user_id_of(endpoint) in ready),
            seconds=round(self._clock() - started, 4),
        )
        log.info("campaign hook", extra={"fields": counts})
        return answer

    def _collect(
        self, futures: Mapping[str, Future[Attributes | str]]
    ) -> tuple[dict[str, Attributes], dict[str, Any]]:
        ready: dict[str, Attributes] = {}
        failures: dict[str, int] = {}
        timed_out = 0
        for user, future in futures.items():
            if not future.done():
                future.cancel()  # still queued: never start it; running: it finishes unseen
                timed_out += 1
                continue
            outcome = future.result()
            if isinstance(outcome, str):
                failures[outcome] = failures.get(outcome, 0) + 1
            else:
                ready[user] = outcome
        return ready, {"users": len(futures), "timed_out": timed_out, "failure_reasons": failures}

    def _attributes_for(self, user_id: str) -> Attributes | str:
        """Runs on the pool: the user's attributes, or why there are none (a reason, never user data)."""
        try:
            request = RecommendationRequest(
                user_id=user_id,
                num_results=self._num_results,
                filter_arn=self._filter_arn,
                filter_values=self._filter_values,
            )
            bought = self._purchases.purchased_items(user_id) if self._purchases is not None else frozenset()
            recommendation = filled(self._recommender, request, bought, widen=self._widen).recommendation
            items = catalog_items(self._catalog, recommendation.item_ids, self._details)
            attributes = pinpoint_attributes(recommendation, items, self._details)
            # Nothing to recommend: add nothing, so the template's default values apply.
            return attributes if attributes[RECOMMENDED_PRODUCTS] else {}
        except PueError as error:
            return f"{error.service or 'pue'}: {error.message}" + (f" [{error.code}]" if error.code else "")
        except Exception as error:  # one bad user must not fail the whole campaign call
            log.exception("campaign hook lookup failed unexpectedly")
            return f"internal error: {type(error).__name__}"


def user_id_of(endpoint: object) -> str | None:
    if not isinstance(endpoint, Mapping):
        return None
    user = endpoint.get("User")
    user_id = user.get("UserId") if isinstance(user, Mapping) else None
    return user_id if isinstance(user_id, str) and user_id else None


def with_attributes(endpoint: Mapping[str, Any], attributes: Attributes) -> dict[str, Any]:
    """A copy of the endpoint whose ``Attributes`` carry ours; earlier values of ours are dropped first, so
    a shorter list leaves no stale rank behind. Other attributes are kept as they are. With nothing to add
    and nothing to drop, the endpoint itself (the template's default values then apply)."""
    existing = endpoint.get("Attributes")
    current: Mapping[str, Any] = existing if isinstance(existing, Mapping) else {}
    kept = {name: values for name, values in current.items() if not is_engagement_attribute(name)}
    if not attributes and len(kept) == len(current):
        return dict(endpoint)
    return {**endpoint, "Attributes": {**kept, **attributes}}
