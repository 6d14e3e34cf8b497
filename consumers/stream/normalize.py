"""Segment message -> Personalize interactions (``Tracked``), or why not (``Filtered`` / ``Poison``).

Reads the Segment common fields (https://segment.com/docs/connections/spec/common/) and the e-commerce v2
spec (https://segment.com/docs/connections/spec/ecommerce/v2/). ``normalize`` never raises, whatever the
message holds: every shape it does not expect ends in a ``Filtered`` or ``Poison`` outcome.

Reasons are counted by value, so they are a fixed vocabulary: they name fields and limits, never user data.
An unmapped event's name travels beside its reason (``Filtered.sample``, truncated) into a bounded sample.
An event time later than the message's receipt (plus a small skew) is clamped to it
(``consumers.stream.timestamps.bounded_event_time``), so no client clock can rig a model.

A message that breaks a Personalize limit is poison as a whole: nothing of it is sent and nothing is
truncated, since a shortened id would name another item.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

from consumers.stream.event_map import EventMap, EventRule, value_at_parts
from consumers.stream.timestamps import bounded_event_time, first_timestamp
from schemas.interaction import Interaction
from schemas.limits import (
    EVENT_PROPERTIES_MAX_LENGTH,
    IMPRESSION_MAX_ITEMS,
    MAX_PRODUCTS_PER_EVENT,
    PERSONALIZE_ID_MAX_LENGTH,
    RECOMMENDATION_ID_MAX_LENGTH,
)
from schemas.outcome import Filtered, Normalized, Poison, Tracked

# Segment's message types (https://segment.com/docs/connections/spec/): anything else is not Segment.
SEGMENT_TYPES: Final = frozenset({"track", "page", "screen", "identify", "alias", "group"})
# ``timestamp`` is Segment's skew-corrected event time; the others are fallbacks, in order of preference.
TIMESTAMP_FIELDS: Final = ("timestamp", "originalTimestamp", "receivedAt")
EVENT_NAME_SAMPLE_CHARS: Final = 64  # an unmapped event's name in the sample: enough to recognize it
UNMAPPED_EVENT: Final = "unmapped event"
_MAX_NUMERIC_TEXT: Final = 64  # longer strings are not numbers anyone means as an event value
_MAX_PROPERTY_INT_BITS: Final = 63  # Personalize numeric fields are longs; bigger ints are not forwarded


class _Rejected(Exception):
    """Internal: carries the Filtered/Poison outcome out of a helper to ``normalize``."""

    def __init__(self, outcome: Filtered | Poison) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def _poison(reason: str) -> NoReturn:
    raise _Rejected(Poison(reason))


def _filtered(reason: str, sample: str | None = None) -> NoReturn:
    raise _Rejected(Filtered(reason, sample))


def normalize(message: Mapping[str, Any], event_map: EventMap, now: datetime | None = None) -> Normalized:
    """Interactions for a Segment message, all of one user and session, in product order.

    ``now`` (default: the clock) bounds the event time of a message without a believable ``receivedAt``.
    """
    try:
        return _normalize(message, event_map, now or datetime.now(UTC))
    except _Rejected as rejected:
        return rejected.outcome


def _normalize(message: Any, event_map: EventMap, now: datetime) -> Tracked:
    # type() before isinstance throughout: a JSON object is a dict, a JSON string a str, and isinstance
    # against an ABC or a union costs several times more, for every field of every record.
    if type(message) is not dict and not isinstance(message, Mapping):
        _poison("not a Segment message: not an object")
    rule = _rule(message, event_map)
    message_id = _id(message.get("messageId"), "messageId", "eventId")
    if message_id is None:
        _poison("no messageId")
    # An empty id is no id: Segment requires "a userId or an anonymousId", and an event whose userId is ""
    # but whose anonymousId is valid is an anonymous event
    # (https://segment.com/docs/connections/spec/identify/ #anonymous-id), not a broken one.
    anonymous_id = _id(_unless_empty(message.get("anonymousId")), "anonymousId", "sessionId")
    user_id = _id(_unless_empty(message.get("userId")), "userId", "userId")
    session_id = anonymous_id or user_id
    if session_id is None:
        _poison("no anonymousId or userId")
    event_time = first_timestamp(message, TIMESTAMP_FIELDS)
    if event_time is None:
        _poison("no usable timestamp")
    bounded = bounded_event_time(event_time, message, now)
    sent_at = bounded.at
    properties = message.get("properties")
    if type(properties) is not dict and not isinstance(properties, Mapping):
        properties = {}
    # Fields every interaction of the message shares. Each interaction is built directly (positional
    # arguments, in Interaction's field order) rather than with dataclasses.replace, which re-reads the
    # dataclass's fields on every call: that alone was a tenth of the CPU of decode + normalize + group
    # (figure 3 of tests/benchmarks, docs/performance.md).
    event_type = rule.event_type
    event_value = _event_value(message, rule.event_value_parts)
    recommendation_id = _recommendation_id(properties)
    impression = _impression(properties)
    keys = event_map.property_keys
    return Tracked(
        tuple(
            [
                Interaction(
                    event_id,
                    event_type,
                    session_id,
                    sent_at,
                    user_id,
                    item_id,
                    event_value,
                    _properties(properties, product, keys) if keys else None,
                    recommendation_id,
                    impression,
                )
                for event_id, item_id, product in _items(message, message_id, rule, event_map)
            ]
        ),
        time_clamped=bounded.clamped,
    )


def _unless_empty(value: Any) -> Any:
    return None if value == "" else value


def _rule(message: Mapping[str, Any], event_map: EventMap) -> EventRule:
    kind = message.get("type")
    if not isinstance(kind, str):
        _poison(
            "not a Segment message: no type" if kind is None else "not a Segment message: type not a string"
        )
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not name:
            _poison("track without event name")
        rule = event_map.events.get(name)
        if rule is None:
            _filtered(UNMAPPED_EVENT, name[:EVENT_NAME_SAMPLE_CHARS])
        return rule
    if kind in event_map.track_types:
        return event_map.events[kind]
    if kind in SEGMENT_TYPES:
        _filtered(f"{kind} not tracked")
    _poison("not a Segment message: unknown type")


def _id(value: Any, source: str, target: str) -> str | None:
    """An id as Personalize takes it, None when absent. ``source`` names the Segment field, ``target`` the
    Personalize one (limits are Personalize's)."""
    if value is None:
        return None
    if type(value) is str or isinstance(value, str):
        return _checked(value, target, PERSONALIZE_ID_MAX_LENGTH)
    if isinstance(value, bool):  # a bool is an int to Python, never an id to anyone
        _poison(f"{source} is not a string or number")
    if isinstance(value, int):
        if value.bit_length() > 4 * PERSONALIZE_ID_MAX_LENGTH:  # too long anyway; spares a huge str()
            _poison(f"{target} longer than {PERSONALIZE_ID_MAX_LENGTH} characters")
        return _checked(str(value), target, PERSONALIZE_ID_MAX_LENGTH)
    if isinstance(value, float) and math.isfinite(value):
        text = str(int(value)) if value.is_integer() else repr(value)
        return _checked(text, target, PERSONALIZE_ID_MAX_LENGTH)
    _poison(f"{source} is not a string or number")


def _checked(text: str, field: str, limit: int) -> str:
    if not text:
        _poison(f"{field} is empty")
    if "\x00" in text:  # NUL ends a C string: stored and forwarded, "a\x00b" would read as "a" somewhere
        _poison(f"{field} contains a NUL character")
    if len(text) > limit:
        _poison(f"{field} longer than {limit} characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape: no service can take it
            _poison(f"{field} is not valid Unicode")
    return text


def _is_item_id(value: Any) -> bool:
    if type(value) is str:
        return value != ""
    if isinstance(value, bool) or value == "":
        return False
    return isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value))


def _item_id(obj: Any, paths: tuple[tuple[str, ...], ...], field: str = "itemId") -> str | None:
    """The first usable id at ``paths`` (split at their dots). Values of the wrong type count as absent (a
    product without a usable id is skipped), but an id that is there and too long is poison: another path
    would name another item."""
    for path in paths:
        value = value_at_parts(obj, path)
        if _is_item_id(value):
            return _id(value, field, field)
    return None


_Item = tuple[str, str | None, Mapping[str, Any] | None]


def _items(message: Mapping[str, Any], message_id: str, rule: EventRule, event_map: EventMap) -> list[_Item]:
    """(eventId, itemId, product) for each interaction: one per product with an id, else one."""
    parts = event_map.products_parts
    products = value_at_parts(message, parts) if parts else None
    if isinstance(products, list):
        if len(products) > MAX_PRODUCTS_PER_EVENT:
            _poison(f"more than {MAX_PRODUCTS_PER_EVENT} products in one event")
        found: list[_Item] = []
        for index, product in enumerate(products):
            if type(product) is dict or isinstance(product, Mapping):
                item_id = _item_id(product, event_map.product_item_id_parts)
                if item_id is not None:
                    # Index in the original list: the same message always derives the same event ids.
                    event_id = _checked(f"{message_id}#{index}", "eventId", PERSONALIZE_ID_MAX_LENGTH)
                    found.append((event_id, item_id, product))
        if found:
            return found
    item_id = _item_id(message, event_map.item_id_parts)
    if item_id is None and rule.item_required:
        _filtered("product event without item id" if isinstance(products, list) else "event without item id")
    return [(message_id, item_id, None)]


def _event_value(message: Mapping[str, Any], path: tuple[str, ...] | None) -> float | None:
    """A finite number at ``path`` (split at its dots; numeric strings too), else None: a bad value is
    dropped, not poison."""
    if not path:
        return None
    value = value_at_parts(message, path)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and len(value) > _MAX_NUMERIC_TEXT:
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _is_forwardable(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return value.bit_length() <= _MAX_PROPERTY_INT_BITS
    return isinstance(value, float) and math.isfinite(value)


def _properties(
    properties: Mapping[str, Any], product: Mapping[str, Any] | None, keys: tuple[tuple[str, str], ...]
) -> str | None:
    """Whitelisted properties (``EventMap.property_keys``) as Personalize's compact JSON; a product's own
    value wins over the message's."""
    picked: dict[str, Any] = {}
    for name, key in keys:
        for source in (properties, product or {}):
            value = source.get(name)
            if _is_forwardable(value):
                picked[key] = value
    if not picked:
        return None
    text = json.dumps(picked, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return _checked(text, "properties", EVENT_PROPERTIES_MAX_LENGTH)


def _recommendation_id(properties: Mapping[str, Any]) -> str | None:
    value = properties.get("recommendation_id")
    if value is None:
        value = properties.get("recommendationId")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    if isinstance(value, int) and value.bit_length() > 4 * RECOMMENDATION_ID_MAX_LENGTH:
        _poison(f"recommendationId longer than {RECOMMENDATION_ID_MAX_LENGTH} characters")
    return _checked(str(value), "recommendationId", RECOMMENDATION_ID_MAX_LENGTH)


def _impression(properties: Mapping[str, Any]) -> tuple[str, ...]:
    value = properties.get("impression")
    if not isinstance(value, list):
        return ()
    if len(value) > IMPRESSION_MAX_ITEMS:
        _poison(f"impression has more than {IMPRESSION_MAX_ITEMS} items")
    ids = (_item_id({"id": v}, (("id",),), "impression item") for v in value)
    return tuple(i for i in ids if i is not None)
