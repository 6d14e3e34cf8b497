"""Which Segment events become Personalize interactions, and how (the event map).

The map is a JSON object. Every key but ``events`` is optional; the packaged default
(``consumers/stream/default_event_map.json``) tracks the Segment e-commerce v2 events Personalize learns from
(docs/event-map.md gives the reason for each event tracked or left out)::

    {
      "events": {
        "Product Viewed":   {},
        "Product Clicked":  {},
        "Product Added":    {},
        "Wishlist Product Added to Cart": {"event_type": "Product Added"},
        "Product Added to Wishlist": {},
        "Product Shared":   {},
        "Product Reviewed": {"event_value": "properties.rating"},
        "Checkout Started": {},
        "Order Completed":  {"purchase": true}
      },
      "item_id_paths": ["properties.product_id", "properties.sku"],
      "products_path": "properties.products",
      "product_item_id_paths": ["product_id", "sku"],
      "property_whitelist": [],
      "track_types": []
    }

``events``
    Segment ``track`` event name -> rule. A track event not listed here is filtered out (counted, not
    tracked). A rule is an object with these optional keys:

    ``event_type``     the Personalize event type (1..256 characters). Default: the Segment event name.
    ``event_value``    dotted path to a number in the message, sent as ``eventValue`` (e.g.
                       ``"properties.rating"``). Numeric strings are accepted; anything else is left out.
    ``purchase``       true for purchase events: the items are excluded from the user's recommendations.
    ``item_required``  default true: an event with no item id is filtered. False tracks it without one.

``item_id_paths``
    Dotted paths tried in order for the item id of a single-item event. The first present, non-empty
    string or number wins.
``products_path``
    Dotted path to a list of products (``Order Completed``, ``Checkout Started``...). When the message has
    one, each product with an id becomes its own interaction; ``null`` turns this off.
``product_item_id_paths``
    Paths tried in order for the item id, relative to each product.
``property_whitelist``
    Segment property names (``properties.<name>``, or the product's own for multi-product events) forwarded
    to Personalize as event ``properties``, with keys converted to camelCase (``discount_code`` ->
    ``discountCode``), as Personalize expects. Only strings, numbers and booleans are forwarded.
``track_types``
    Message types other than ``track`` that are tracked too (``page``, ``screen``); each needs a rule in
    ``events`` under the type's name, e.g. ``"page": {"event_type": "Page Viewed", "item_required": false}``.

An invalid map raises ``ConfigError`` naming every problem.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from consumers.config.settings import EVENT_MAP_PRESETS
from schemas.errors import ConfigError
from schemas.limits import PERSONALIZE_EVENT_TYPE_MAX_LENGTH

DEFAULT_EVENT_MAP_FILE: Final = "default_event_map.json"
DEFAULT_ITEM_ID_PATHS: Final = ("properties.product_id", "properties.sku")
DEFAULT_PRODUCTS_PATH: Final = "properties.products"
DEFAULT_PRODUCT_ITEM_ID_PATHS: Final = ("product_id", "sku")

# Only these carry ``properties`` (and so item ids); identify, alias and group describe people, not items.
MAPPABLE_TYPES: Final = frozenset({"page", "screen"})

_TOP_KEYS: Final = frozenset(
    {"events", "item_id_paths", "products_path", "product_item_id_paths", "property_whitelist", "track_types"}
)
_RULE_KEYS: Final = frozenset({"event_type", "event_value", "purchase", "item_required"})
_WORD_SEPARATORS: Final = re.compile(r"[\s_\-]+")


@dataclass(frozen=True, slots=True)
class EventRule:
    """How one Segment event becomes an interaction."""

    event_type: str
    event_value: str | None = None
    purchase: bool = False
    item_required: bool = True
    # ``event_value`` split at its dots once, not for every message (normalize's hot path).
    event_value_parts: tuple[str, ...] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = None if self.event_value is None else split_path(self.event_value)
        object.__setattr__(self, "event_value_parts", parts)


@dataclass(frozen=True, slots=True)
class EventMap:
    """Validated, immutable event map. Build it with ``default()``, ``from_file()`` or ``from_json()``."""

    events: Mapping[str, EventRule]
    item_id_paths: tuple[str, ...] = DEFAULT_ITEM_ID_PATHS
    products_path: str | None = DEFAULT_PRODUCTS_PATH
    product_item_id_paths: tuple[str, ...] = DEFAULT_PRODUCT_ITEM_ID_PATHS
    property_whitelist: tuple[str, ...] = ()
    track_types: frozenset[str] = frozenset()
    # (Segment property name, Personalize camelCase key), derived from property_whitelist.
    property_keys: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    # The paths above split at their dots once, not for every message (normalize's hot path).
    item_id_parts: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    products_parts: tuple[str, ...] | None = field(init=False, repr=False, compare=False)
    product_item_id_parts: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A read-only view of a private copy: a shared map cannot be changed under a running pipeline.
        object.__setattr__(self, "events", MappingProxyType(dict(self.events)))
        keys = tuple((name, camel_case(name)) for name in self.property_whitelist)
        object.__setattr__(self, "property_keys", keys)
        object.__setattr__(self, "item_id_parts", tuple(map(split_path, self.item_id_paths)))
        products = None if self.products_path is None else split_path(self.products_path)
        object.__setattr__(self, "products_parts", products)
        object.__setattr__(self, "product_item_id_parts", tuple(map(split_path, self.product_item_id_paths)))

    def __reduce__(self) -> tuple[type[EventMap], tuple[Any, ...]]:
        # Pickled for ``pue replay``'s intake process (spawned): the MappingProxyType view is no pickle.
        return (
            EventMap,
            (
                dict(self.events),
                self.item_id_paths,
                self.products_path,
                self.product_item_id_paths,
                self.property_whitelist,
                self.track_types,
            ),
        )

    @property
    def purchase_event_types(self) -> frozenset[str]:
        """Personalize event types that record a purchase."""
        return frozenset(rule.event_type for rule in self.events.values() if rule.purchase)

    @classmethod
    def default(cls) -> EventMap:
        """The packaged default map (Segment e-commerce v2 events)."""
        return _default_map()

    @classmethod
    def preset(cls, name: str) -> EventMap:
        """A packaged map for a Personalize domain (``EVENT_MAP_PRESETS``); ``ConfigError`` for others."""
        if name not in EVENT_MAP_PRESETS:
            raise ConfigError([f"{name!r} is not a preset ({', '.join(EVENT_MAP_PRESETS)})"])
        return _packaged(EVENT_MAP_PRESETS[name])

    @classmethod
    def named(cls, value: str | os.PathLike[str]) -> EventMap:
        """``PUE_EVENT_MAP``'s value: a preset name, else the path of a JSON event map file."""
        if isinstance(value, str) and value in EVENT_MAP_PRESETS:
            return cls.preset(value)
        return cls.from_file(value)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> EventMap:
        """Read and validate a JSON event map file."""
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ConfigError([f"{os.fspath(path)}: cannot read event map: {exc.strerror or exc}"]) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([f"{os.fspath(path)}: event map is not UTF-8 text"]) from exc
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"{os.fspath(path)}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            raise ConfigError([problem]) from exc
        return cls.from_json(obj, source=os.fspath(path))

    @classmethod
    def from_json(cls, obj: Any, *, source: str = "event map") -> EventMap:
        """Validate a parsed JSON event map; ``ConfigError`` lists every problem, prefixed by ``source``."""
        if not isinstance(obj, Mapping):
            raise ConfigError([f"{source}: must be a JSON object"])
        problems: list[str] = [f"unknown key {key!r}" for key in sorted(map(str, set(obj) - _TOP_KEYS))]
        events = _rules(obj.get("events"), problems)
        item_id_paths = _paths(
            obj.get("item_id_paths", list(DEFAULT_ITEM_ID_PATHS)), "item_id_paths", problems
        )
        products_path = obj.get("products_path", DEFAULT_PRODUCTS_PATH)
        if products_path is not None and not _is_path(products_path):
            problems.append("products_path: must be a dotted path or null")
            products_path = None
        product_paths = _paths(
            obj.get("product_item_id_paths", list(DEFAULT_PRODUCT_ITEM_ID_PATHS)),
            "product_item_id_paths",
            problems,
        )
        whitelist = _whitelist(obj.get("property_whitelist", []), problems)
        track_types = _track_types(obj.get("track_types", []), events, problems)
        if problems:
            raise ConfigError([f"{source}: {problem}" for problem in problems])
        return cls(events, item_id_paths, products_path, product_paths, whitelist, track_types)


def value_at(obj: Any, path: str) -> Any:
    """The value at a dotted ``path`` in nested mappings; None when a step is missing or not a mapping."""
    return value_at_parts(obj, path.split("."))


def value_at_parts(obj: Any, parts: Sequence[str]) -> Any:
    """``value_at`` for a path already split at its dots."""
    for part in parts:
        # type() first: a JSON object is a dict, and isinstance against an ABC costs several times more.
        if type(obj) is not dict and not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def camel_case(name: str) -> str:
    """Personalize's key for a field: ``discount_code``, ``DISCOUNT_CODE`` -> ``discountCode``."""
    words = [w.lower() if w.isupper() else w for w in _WORD_SEPARATORS.split(name) if w]
    if not words:
        return ""
    head, *rest = words
    return head[:1].lower() + head[1:] + "".join(w[:1].upper() + w[1:] for w in rest)


def _default_map() -> EventMap:
    return _packaged(DEFAULT_EVENT_MAP_FILE)


@functools.cache
def _packaged(file_name: str) -> EventMap:
    text = resources.files("consumers.stream").joinpath(file_name).read_text(encoding="utf-8")
    return EventMap.from_json(json.loads(text), source=file_name)


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and all(value.split("."))


def _paths(value: Any, name: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f"{name}: must be a non-empty list of dotted paths")
        return ()
    for path in value:
        if not _is_path(path):
            problems.append(f"{name}: {path!r} is not a dotted path")
    return tuple(p for p in value if _is_path(p))


def _rules(value: Any, problems: list[str]) -> dict[str, EventRule]:
    if not isinstance(value, Mapping) or not value:
        problems.append("events: must be a non-empty object of event name -> rule")
        return {}
    rules: dict[str, EventRule] = {}
    for name, spec in value.items():
        rule = _rule(name, spec, problems)
        if rule is not None:
            rules[name] = rule
    return rules


def _rule(name: Any, spec: Any, problems: list[str]) -> EventRule | None:
    where = f"events[{name!r}]"
    if not isinstance(name, str) or not name:
        problems.append("events: event names must be non-empty strings")
        return None
    if not isinstance(spec, Mapping):
        problems.append(f"{where}: must be an object")
        return None
    count = len(problems)
    problems.extend(f"{where}: unknown key {key!r}" for key in sorted(map(str, set(spec) - _RULE_KEYS)))
    event_type = spec.get("event_type", name)
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= PERSONALIZE_EVENT_TYPE_MAX_LENGTH:
        problems.append(f"{where}.event_type: must be 1..{PERSONALIZE_EVENT_TYPE_MAX_LENGTH} characters")
    event_value = spec.get("event_value")
    if event_value is not None and not _is_path(event_value):
        problems.append(f"{where}.event_value: must be a dotted path or null")
    for flag in ("purchase", "item_required"):
        if not isinstance(spec.get(flag, False), bool):
            problems.append(f"{where}.{flag}: must be true or false")
    if len(problems) > count:
        return None
    return EventRule(event_type, event_value, spec.get("purchase", False), spec.get("item_required", True))


def _whitelist(value: Any, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.append("property_whitelist: must be a list of property names")
        return ()
    names: list[str] = []
    owners: dict[str, str] = {}
    for name in value:
        key = camel_case(name) if isinstance(name, str) else ""
        if not key:
            problems.append(f"property_whitelist: {name!r} is not a property name")
        elif key in owners:
            problems.append(f"property_whitelist: {owners[key]!r} and {name!r} both become {key!r}")
        else:
            owners[key] = name
            names.append(name)
    return tuple(names)


def _track_types(value: Any, events: Mapping[str, EventRule], problems: list[str]) -> frozenset[str]:
    if not isinstance(value, list):
        problems.append("track_types: must be a list of message types")
        return frozenset()
    for kind in value:
        if not isinstance(kind, str) or kind not in MAPPABLE_TYPES:
            problems.append(
                f"track_types: {kind!r} cannot be tracked (only {', '.join(sorted(MAPPABLE_TYPES))})"
            )
        elif kind not in events:
            problems.append(f"track_types: {kind!r} has no rule in events")
    return frozenset(k for k in value if isinstance(k, str) and k in MAPPABLE_TYPES and k in events)
