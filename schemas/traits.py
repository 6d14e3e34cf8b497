"""How a recommendation list is written to engagement tools. Shared by local and cloud sinks alike."""

from __future__ import annotations

import uuid

from schemas.limits import PINPOINT_ATTRIBUTE_MAX_VALUES, PINPOINT_ATTRIBUTE_VALUE_MAX_LENGTH
from schemas.recommendation import Recommendation

RECOMMENDED_PRODUCTS = "recommended_products"
# Some Segment destinations cannot take arrays: they read the comma-joined twin.
RECOMMENDED_PRODUCTS_STR = "recommended_products_str"

# Fixed namespace: the same (user, cause, items) always yields the same message id, across processes.
_MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d3c5e-8a7b-4c2d-9e0f-5a4b3c2d1e0f")

JsonTraitValue = str | list[str]


def personas_traits(recommendation: Recommendation) -> dict[str, JsonTraitValue]:
    """The traits an ``identify`` carries to Segment Personas."""
    ids = list(recommendation.item_ids)
    return {RECOMMENDED_PRODUCTS: ids, RECOMMENDED_PRODUCTS_STR: ",".join(ids)}


def pinpoint_attribute_values(recommendation: Recommendation) -> list[str]:
    """Item ids that fit Pinpoint's attribute limits, in rank order.

    An id longer than Pinpoint allows cannot be shortened without pointing at another item, so it is
    skipped (the next ranked id takes its place); the list stops at Pinpoint's value count limit.
    """
    fitting = [i for i in recommendation.item_ids if len(i) <= PINPOINT_ATTRIBUTE_VALUE_MAX_LENGTH]
    return fitting[:PINPOINT_ATTRIBUTE_MAX_VALUES]


def deterministic_message_id(recommendation: Recommendation, sink: str) -> str:
    """Same user, cause and items give the same id, so Segment deduplicates a retried write. (An anonymous
    visitor's key differs from any user's; a user's is the user id, as it always was.)"""
    key = "|".join((sink, recommendation.key, recommendation.refresh_key, *recommendation.item_ids))
    return str(uuid.uuid5(_MESSAGE_ID_NAMESPACE, key))
