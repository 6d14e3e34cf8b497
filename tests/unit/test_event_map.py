"""The event map: defaults, the JSON file format, and validation that names every problem."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from consumers.stream.event_map import (
    EventMap,
    EventRule,
    camel_case,
    value_at,
)
from schemas.errors import ConfigError


def problems_of(obj: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        EventMap.from_json(obj)
    return caught.value.problems


def test_the_default_map_tracks_the_ecommerce_events() -> None:
    default = EventMap.default()
    assert dict(default.events) == {
        "Product Viewed": EventRule("Product Viewed"),
        "Product Clicked": EventRule("Product Clicked"),
        "Product Added": EventRule("Product Added"),
        "Wishlist Product Added to Cart": EventRule("Product Added"),
        "Product Added to Wishlist": EventRule("Product Added to Wishlist"),
        "Product Shared": EventRule("Product Shared"),
        "Product Reviewed": EventRule("Product Reviewed", event_value="properties.rating"),
        "Checkout Started": EventRule("Checkout Started"),
        "Order Completed": EventRule("Order Completed", purchase=True),
    }
    assert default.item_id_paths == ("properties.product_id", "properties.sku")
    assert default.products_path == "properties.products"
    assert default.product_item_id_paths == ("product_id", "sku")
    assert default.property_whitelist == () and default.track_types == frozenset()
    assert default.purchase_event_types == frozenset({"Order Completed"})


def test_the_packaged_default_file_is_what_default_returns() -> None:
    packaged = resources.files("consumers.stream").joinpath("default_event_map.json")
    with resources.as_file(packaged) as path:
        assert EventMap.from_file(path) == EventMap.default()


def test_a_minimal_map_takes_the_defaults() -> None:
    event_map = EventMap.from_json({"events": {"Song Played": {}}})
    assert event_map.events["Song Played"] == EventRule("Song Played")
    assert event_map.item_id_paths == EventMap.default().item_id_paths
    assert event_map.products_path == "properties.products"
    assert event_map.purchase_event_types == frozenset()


def test_a_full_map_is_read_as_written() -> None:
    event_map = EventMap.from_json(
        {
            "events": {
                "Product Added": {"event_type": "AddToCart"},
                "Order Completed": {
                    "event_type": "Purchase",
                    "purchase": True,
                    "event_value": "properties.total",
                },
                "page": {"event_type": "PageView", "item_required": False},
            },
            "item_id_paths": ["properties.item.id"],
            "products_path": None,
            "product_item_id_paths": ["id"],
            "property_whitelist": ["discount_code", "CATEGORY_L1", "brand"],
            "track_types": ["page"],
        }
    )
    assert event_map.events["Order Completed"] == EventRule("Purchase", "properties.total", purchase=True)
    assert event_map.events["page"] == EventRule("PageView", item_required=False)
    assert event_map.purchase_event_types == frozenset({"Purchase"})
    assert event_map.products_path is None
    assert event_map.property_keys == (
        ("discount_code", "discountCode"),
        ("CATEGORY_L1", "categoryL1"),
        ("brand", "brand"),
    )
    assert event_map.track_types == frozenset({"page"})


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        {
            "events": {
                "A": {"event_type": 7},
                "B": {"event_type": "x" * 257},
                "C": {"event_value": "properties..rating"},
                "D": {"purchase": "yes", "colour": "red"},
                "E": "not an object",
            },
            "item_id_paths": [],
            "products_path": 3,
            "product_item_id_paths": ["ok", ""],
            "property_whitelist": ["discount_code", "discountCode", "__", 4],
            "track_types": ["identify", "page", {"x": 1}],
            "extra": True,
        }
    )
    expected = [
        "unknown key 'extra'",
        "events['A'].event_type: must be 1..256 characters",
        "events['B'].event_type: must be 1..256 characters",
        "events['C'].event_value: must be a dotted path or null",
        "events['D']: unknown key 'colour'",
        "events['D'].purchase: must be true or false",
        "events['E']: must be an object",
        "item_id_paths: must be a non-empty list of dotted paths",
        "products_path: must be a dotted path or null",
        "product_item_id_paths: '' is not a dotted path",
        "property_whitelist: 'discount_code' and 'discountCode' both become 'discountCode'",
        "property_whitelist: '__' is not a property name",
        "property_whitelist: 4 is not a property name",
        "track_types: 'identify' cannot be tracked (only page, screen)",
        "track_types: 'page' has no rule in events",
        "track_types: {'x': 1} cannot be tracked (only page, screen)",
    ]
    assert list(problems) == [f"event map: {p}" for p in expected]


@pytest.mark.parametrize("obj", [None, [], "events", 3])
def test_a_map_must_be_an_object(obj: Any) -> None:
    assert problems_of(obj) == ("event map: must be a JSON object",)


@pytest.mark.parametrize("events", [None, {}, [], "Product Viewed"])
def test_a_map_must_track_something(events: Any) -> None:
    assert problems_of({"events": events}) == (
        "event map: events: must be a non-empty object of event name -> rule",
    )


def test_from_file_names_the_file_in_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"events": {"X": {"purchase": 1}}, "track_types": "page"}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        EventMap.from_file(path)
    assert caught.value.problems == (
        f"{path}: events['X'].purchase: must be true or false",
        f"{path}: track_types: must be a list of message types",
    )


def test_from_file_reads_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text('{"events": {"Song Played": {"event_type": "Play"}}}', encoding="utf-8")
    assert EventMap.from_file(str(path)).events == {"Song Played": EventRule("Play")}


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ConfigError) as caught:
        EventMap.from_file(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: cannot read event map")


def test_invalid_json_is_a_config_error_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text('{\n  "events": {,}\n}', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        EventMap.from_file(path)
    assert caught.value.problems == (
        f"{path}: invalid JSON at line 2 column 14: Expecting property name enclosed in double quotes",
    )


def test_a_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_bytes(b'{"events": {"\xff": {}}}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        EventMap.from_file(path)


def test_the_map_cannot_be_changed_after_it_is_built() -> None:
    events = {"A": EventRule("A")}
    event_map = EventMap(events)
    events["B"] = EventRule("B")
    assert list(event_map.events) == ["A"]
    with pytest.raises(TypeError):
        event_map.events["B"] = EventRule("B")  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("price", "price"),
        ("discount_code", "discountCode"),
        ("NUMBER_OF_RATINGS", "numberOfRatings"),
        ("numberOfRatings", "numberOfRatings"),
        ("Feed Type", "feedType"),
        ("category-l1", "categoryL1"),
        ("_private_", "private"),
        ("__", ""),
    ],
)
def test_camel_case(name: str, key: str) -> None:
    assert camel_case(name) == key


def test_lookup_follows_dotted_paths_and_gives_none_for_anything_else() -> None:
    message = {"properties": {"rating": 5, "products": [1]}, "event": "x"}
    assert value_at(message, "properties.rating") == 5
    assert value_at(message, "properties.missing") is None
    assert value_at(message, "event.name") is None
    assert value_at(message, "properties.products.0") is None
    assert value_at([message], "properties") is None


@pytest.mark.parametrize("name", ["default", "ecommerce-domain", "custom"])
def test_an_event_map_pickles_whole_for_a_spawned_process(name: str) -> None:
    import pickle

    if name == "default":
        event_map = EventMap.default()
    elif name == "custom":
        event_map = EventMap.from_json(
            {
                "events": {"page": {"event_type": "Page Viewed", "item_required": False}},
                "item_id_paths": ["properties.sku"],
                "products_path": None,
                "property_whitelist": ["discount_code"],
                "track_types": ["page"],
            }
        )
    else:
        event_map = EventMap.preset(name)
    copy = pickle.loads(pickle.dumps(event_map))  # noqa: S301 - our own bytes
    assert copy == event_map
    # The derived fields (compare=False) come back too, and the copy is as read-only as the original.
    assert (copy.item_id_parts, copy.products_parts, copy.product_item_id_parts, copy.property_keys) == (
        event_map.item_id_parts,
        event_map.products_parts,
        event_map.product_item_id_parts,
        event_map.property_keys,
    )
    assert [r.event_value_parts for r in copy.events.values()] == [
        r.event_value_parts for r in event_map.events.values()
    ]
    with pytest.raises(TypeError):
        copy.events["x"] = copy.events[next(iter(copy.events))]
