"""What the engagement paths write about a recommendation: ids plus per-rank item details for templates.

One shape everywhere, so a template reads the same names whichever path filled them:
``recommended_products`` (the ids) and ``recommended_item_<rank>_<field>`` (``_id``, then one per configured
catalog field: ``_name``, ``_price``, ``_url``, ``_image``...). Ranks count the recommended items the catalog
knows, in recommendation order, so a template's item 1..N never has holes. Each destination has its own
value limits; a value over the limit is left out, never cut (a cut URL or id points somewhere else).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from destinations.ports import ItemCatalog
from schemas.limits import CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH, PINPOINT_ATTRIBUTE_VALUE_MAX_LENGTH
from schemas.recommendation import Recommendation
from schemas.traits import RECOMMENDED_PRODUCTS, deterministic_message_id, pinpoint_attribute_values

DETAIL_PREFIX: Final = "recommended_item_"
ID_SUFFIX: Final = "id"
# Attribute suffix -> catalog field. Personalize items datasets name fields in upper case.
DEFAULT_DETAIL_FIELDS: Final = MappingProxyType(
    {"name": "NAME", "price": "PRICE", "url": "URL", "image": "IMAGE_URL"}
)
DEFAULT_DETAIL_RANKS: Final = 3
_MESSAGE_NAMESPACE: Final = uuid.UUID("2d0f4c1b-7e3a-4b8e-9c55-0a6d1e2f3b4c")

Catalog = Mapping[str, Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class DetailSpec:
    """How many ranks get details, and which catalog field fills each ``recommended_item_<n>_<suffix>``."""

    ranks: int = DEFAULT_DETAIL_RANKS
    fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_DETAIL_FIELDS))

    def attribute_names(self) -> list[str]:
        return [
            detail_name(rank, suffix)
            for rank in range(1, self.ranks + 1)
            for suffix in (ID_SUFFIX, *self.fields)
        ]


def detail_name(rank: int, suffix: str) -> str:
    return f"{DETAIL_PREFIX}{rank}_{suffix}"


def is_engagement_attribute(name: str) -> bool:
    """Attributes pue owns: replaced as a whole on each write, so no stale rank survives."""
    return name == RECOMMENDED_PRODUCTS or name.startswith(DETAIL_PREFIX)


def catalog_items(
    catalog: ItemCatalog | None, item_ids: Sequence[str], spec: DetailSpec
) -> dict[str, dict[str, object]]:
    """The catalog entries of ``item_ids`` (nothing to look up without a catalog or detail ranks)."""
    if catalog is None or spec.ranks == 0 or not item_ids:
        return {}
    return catalog.items(list(item_ids))


def catalog_details(
    item_ids: Sequence[str], items: Catalog, spec: DetailSpec, max_length: int
) -> dict[str, str]:
    """``recommended_item_<rank>_<suffix>`` -> value for the first ``spec.ranks`` catalog-known items."""
    details: dict[str, str] = {}
    rank = 0
    for item_id in item_ids:
        if rank == spec.ranks:
            break
        fields = items.get(item_id)
        if fields is None:
            continue
        rank += 1
        values = {
            ID_SUFFIX: item_id,
            **{suffix: field_text(fields, name) for suffix, name in spec.fields.items()},
        }
        for suffix, value in values.items():
            if value and len(value) <= max_length:
                details[detail_name(rank, suffix)] = value
    return details


def field_text(fields: Mapping[str, object], name: str) -> str | None:
    """A catalog field as text; the name matches exactly, else ignoring case."""
    value = fields.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in fields.items() if k.lower() == lowered), None)
    return _text(value)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, list | tuple | set | frozenset):
        # Personalize's multi-valued categorical fields are '|'-separated.
        return "|".join(
            str(v) for v in (sorted(value, key=str) if isinstance(value, set | frozenset) else value)
        )
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def pinpoint_attributes(
    recommendation: Recommendation, items: Catalog, spec: DetailSpec
) -> dict[str, list[str]]:
    """Endpoint attributes within Pinpoint's limits: the ids, then one single-valued attribute per detail."""
    ids = pinpoint_attribute_values(recommendation)
    attributes = {RECOMMENDED_PRODUCTS: ids}
    details = catalog_details(ids, items, spec, PINPOINT_ATTRIBUTE_VALUE_MAX_LENGTH)
    attributes.update({name: [value] for name, value in details.items()})
    return attributes


def message_substitutions(
    recommendation: Recommendation, items: Catalog, spec: DetailSpec
) -> dict[str, list[str]]:
    """Template substitutions: the same names as the endpoint attributes, every detail name present (empty
    when unknown), because Pinpoint drops a templated message whose variables have no value."""
    attributes = pinpoint_attributes(recommendation, items, spec)
    for name in spec.attribute_names():
        attributes.setdefault(name, [""])
    return attributes


def profile_attributes(recommendation: Recommendation, items: Catalog, spec: DetailSpec) -> dict[str, str]:
    """Customer Profiles attributes (string values ≤ 255 characters): ids comma-joined, every detail name
    written, ``""`` where there is none, which UpdateProfile takes as "remove the old value"."""
    ids = joined_within(recommendation.item_ids, CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH)
    attributes = {RECOMMENDED_PRODUCTS: ",".join(ids)}
    details = catalog_details(ids, items, spec, CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH)
    for name in spec.attribute_names():
        attributes[name] = details.get(name, "")
    return attributes


def joined_within(item_ids: Sequence[str], max_length: int, separator: str = ",") -> list[str]:
    """The ids, in rank order, that fit one ``separator``-joined value of at most ``max_length`` characters.

    An id containing the separator could not be split back out, so it is skipped like an overlong one.
    """
    kept: list[str] = []
    length = 0
    for item_id in item_ids:
        if separator in item_id:
            continue
        added = len(item_id) + (len(separator) if kept else 0)
        if length + added > max_length:
            continue
        kept.append(item_id)
        length += added
    return kept


def message_id(recommendation: Recommendation) -> str:
    """One id per user and refresh cause: a redelivered batch asks to send the same message again, even if
    the recommender answers differently the second time."""
    if not recommendation.refresh_key:
        return deterministic_message_id(recommendation, "messages")
    return str(uuid.uuid5(_MESSAGE_NAMESPACE, f"{recommendation.user_id}|{recommendation.refresh_key}"))
