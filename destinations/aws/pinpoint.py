"""Amazon Pinpoint endpoint attributes: a cloud ``RecommendationSink``.

Writes each user's list to ``User.UserAttributes["recommended_products"]`` on every endpoint the user has.
GetUserEndpoints: https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-users-user-id.html
UpdateEndpointsBatch: https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-endpoints.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from destinations.aws.errors import BOTO_ERRORS, error_code, translate_client_error
from destinations.sink_input import latest_per_user
from schemas.delivery import DeliveryReport
from schemas.errors import PueError
from schemas.limits import PINPOINT_ENDPOINTS_PER_BATCH
from schemas.recommendation import Recommendation
from schemas.traits import RECOMMENDED_PRODUCTS, pinpoint_attribute_values

SERVICE = "pinpoint"

UserAttributes = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class _EndpointUpdate:
    user_id: str
    item: dict[str, Any]  # one EndpointBatchItem


def _existing_endpoints(response: Mapping[str, Any]) -> list[tuple[str, UserAttributes]]:
    """(endpoint id, current user attributes) for each endpoint GetUserEndpoints returned."""
    found = []
    for endpoint in response.get("EndpointsResponse", {}).get("Item", []):
        attributes = endpoint.get("User", {}).get("UserAttributes") or {}
        found.append((str(endpoint["Id"]), {name: list(values) for name, values in attributes.items()}))
    return found


class PinpointEndpointSink:
    """Sets ``recommended_products`` on each endpoint of each user, in as few UpdateEndpointsBatch calls as
    the 100-endpoint limit allows, batching endpoints across users.

    Why read first: UpdateEndpointsBatch writes the ``User`` object it is given, so the update carries the
    endpoint's existing user attributes with ours merged in; other attributes survive. A user without
    endpoints (GetUserEndpoints answers NotFoundException) has nowhere to receive the list: that is success,
    not failure. Writing the same list twice sets the same values (idempotent).
    """

    name = "pinpoint"
    # An endpoint belongs to a userId; an anonymousId has none (legacy sink: Pinpoint's engagement features
    # reached end of support on 2026-10-30). Its anonymous lists are counted as skipped by the pipeline.
    takes_anonymous = False

    def __init__(
        self, client: Any, application_id: str, *, max_workers: int = 16, pool: Executor | None = None
    ) -> None:
        """``pool``: where the per-user lookups and the batches run, kept for the sink's life (the pipeline
        passes the one it owns); without one the sink keeps its own, ``max_workers`` wide."""
        self._client = client
        self._application_id = application_id
        self._own_pool = pool is None
        self._pool: Executor = pool or ThreadPoolExecutor(
            max(1, max_workers), thread_name_prefix="pue-pinpoint"
        )

    def close(self) -> None:
        if self._own_pool:
            self._pool.shutdown(wait=True)

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        latest, failed = latest_per_user(recommendations, service=SERVICE)
        updates: list[_EndpointUpdate] = []
        lookups = self._pool.map(self._endpoint_updates, latest.values())
        for user_id, outcome in zip(latest, lookups, strict=True):
            if isinstance(outcome, PueError):
                failed[user_id] = outcome
            else:
                updates.extend(outcome)
        chunks = [
            updates[start : start + PINPOINT_ENDPOINTS_PER_BATCH]
            for start in range(0, len(updates), PINPOINT_ENDPOINTS_PER_BATCH)
        ]
        # The chunks are independent: sent at once, a large batch waits for one round trip, not one per
        # hundred endpoints (figure 2 of tests/benchmarks).
        for chunk, error in zip(chunks, self._pool.map(self._update_batch, chunks), strict=True):
            if error is not None:
                # The call is all-or-nothing: every user with an endpoint in it failed.
                for update in chunk:
                    failed.setdefault(update.user_id, error)
        return DeliveryReport(failed)

    def _endpoint_updates(self, recommendation: Recommendation) -> list[_EndpointUpdate] | PueError:
        """The batch items for one user, or the error that stopped the lookup (runs on the pool)."""
        try:
            response = self._client.get_user_endpoints(
                ApplicationId=self._application_id, UserId=recommendation.user_id
            )
        except BOTO_ERRORS as error:
            if error_code(error) == "NotFoundException":
                return []
            return translate_client_error(error, service=SERVICE)
        values = pinpoint_attribute_values(recommendation)
        updates = []
        for endpoint_id, attributes in _existing_endpoints(response):
            merged = {**attributes, RECOMMENDED_PRODUCTS: values}
            item = {"Id": endpoint_id, "User": {"UserId": recommendation.user_id, "UserAttributes": merged}}
            updates.append(_EndpointUpdate(recommendation.user_id, item))
        return updates

    def _update_batch(self, chunk: Sequence[_EndpointUpdate]) -> PueError | None:
        try:
            self._client.update_endpoints_batch(
                ApplicationId=self._application_id,
                EndpointBatchRequest={"Item": [update.item for update in chunk]},
            )
        except BOTO_ERRORS as error:
            return translate_client_error(error, service=SERVICE)
        return None
