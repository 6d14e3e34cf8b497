"""normalize: Segment messages (Segment spec samples, every rule) -> Tracked, Filtered, Poison."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.stream.event_map import EventMap
from consumers.stream.normalize import normalize
from schemas.interaction import Interaction
from schemas.outcome import Filtered, Normalized, Poison, Tracked
from tests.factories import segment_identify, segment_track

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEFAULT = EventMap.default()
WHITELIST = EventMap.from_json(
    {
        "events": {
            "Product Viewed": {},
            "Product Reviewed": {"event_value": "properties.rating"},
            "Order Completed": {"purchase": True},
        },
        "property_whitelist": ["category", "discount_code", "price", "in_stock"],
    }
)


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def tracked(outcome: Normalized) -> tuple[Interaction, ...]:
    assert isinstance(outcome, Tracked), outcome
    assert outcome.interactions
    return outcome.interactions


def one(outcome: Normalized) -> Interaction:
    (interaction,) = tracked(outcome)
    return interaction


def viewed(**overrides: Any) -> dict[str, Any]:
    message = segment_track("Product Viewed", properties={"product_id": "p1"}, message_id="m1")
    message.update(overrides)
    return message


def order(products: list[Any], **kwargs: Any) -> dict[str, Any]:
    return segment_track("Order Completed", properties={"order_id": "o1", "products": products}, **kwargs)


# -- golden samples (shapes from the Segment spec) -------------------------------------------------


def test_product_viewed_sample() -> None:
    interaction = one(normalize(sample("track_product_viewed"), DEFAULT))
    assert interaction == Interaction(
        event_id="ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
        event_type="Product Viewed",
        session_id="23adfd82-aa0f-45a7-a756-24f2a7a4c895",
        sent_at=datetime(2026, 11, 1, 12, 0, 0, 249_000, tzinfo=UTC),
        user_id="AiUGstSDIg",
        item_id="507f1f77bcf86cd799439011",
    )


def test_product_clicked_sample_keeps_the_recommendation_id_and_converts_the_offset() -> None:
    interaction = one(normalize(sample("track_product_clicked"), DEFAULT))
    assert interaction.sent_at == datetime(2026, 11, 1, 12, 1, 0, 250_000, tzinfo=UTC)
    assert interaction.recommendation_id == "RID-24-4a2b-8c1f-0e9d7a6b5c4d"
    assert (interaction.item_id, interaction.event_type) == ("507f1f77bcf86cd799439011", "Product Clicked")


def test_product_added_sample_is_tracked_for_an_anonymous_visitor() -> None:
    interaction = one(normalize(sample("track_product_added"), DEFAULT))
    assert interaction.user_id is None
    assert interaction.session_id == "23adfd82-aa0f-45a7-a756-24f2a7a4c895"


def test_product_reviewed_sample_carries_the_rating_as_event_value() -> None:
    assert one(normalize(sample("track_product_reviewed"), DEFAULT)).event_value == 5.0


def test_order_completed_sample_gives_one_interaction_per_product() -> None:
    interactions = tracked(normalize(sample("track_order_completed"), DEFAULT))
    assert [(i.event_id, i.item_id) for i in interactions] == [
        ("api-2Nfe9cvM0kE3gO1XJm0b7sxS8Ja#0", "507f1f77bcf86cd799439011"),
        ("api-2Nfe9cvM0kE3gO1XJm0b7sxS8Ja#1", "505bd76785ebb509fc183733"),
    ]
    assert {(i.event_type, i.user_id, i.session_id) for i in interactions} == {
        ("Order Completed", "AiUGstSDIg", "23adfd82-aa0f-45a7-a756-24f2a7a4c895")
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("identify", "identify not tracked"),
        ("page", "page not tracked"),
        ("screen", "screen not tracked"),
        ("alias", "alias not tracked"),
        ("group", "group not tracked"),
    ],
)
def test_samples_that_are_not_tracked_are_filtered(name: str, reason: str) -> None:
    assert normalize(sample(name), DEFAULT) == Filtered(reason)


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("track_cart_viewed", "Cart Viewed"),
        ("track_product_list_viewed", "Product List Viewed"),
        ("track_product_removed", "Product Removed"),
        ("track_signed_up", "Signed Up"),
    ],
)
def test_an_unmapped_event_has_a_fixed_reason_and_its_name_as_the_sample(name: str, event: str) -> None:
    assert normalize(sample(name), DEFAULT) == Filtered("unmapped event", sample=event)


def test_the_identify_factory_is_filtered() -> None:
    assert normalize(segment_identify("u1", {"plan": "pro"}), DEFAULT) == Filtered("identify not tracked")


# -- message shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"event": "Product Viewed"}, "not a Segment message: no type"),
        ({"type": 3}, "not a Segment message: type not a string"),
        ({"type": "batch"}, "not a Segment message: unknown type"),
        ({"type": "track"}, "track without event name"),
        ({"type": "track", "event": ""}, "track without event name"),
        ({"type": "track", "event": ["Product Viewed"]}, "track without event name"),
    ],
)
def test_messages_that_are_not_segment_are_poison(message: dict[str, Any], reason: str) -> None:
    assert normalize(message, DEFAULT) == Poison(reason)


@pytest.mark.parametrize("value", [[1, 2], "text", 42, None])
def test_a_value_that_is_not_an_object_is_poison(value: Any) -> None:
    assert normalize(value, DEFAULT) == Poison("not a Segment message: not an object")


def test_an_unmapped_event_name_is_truncated_in_the_sample_and_never_in_the_reason() -> None:
    outcome = normalize(segment_track("Secretname Phone 5550199" + "x" * 500), DEFAULT)
    assert outcome == Filtered("unmapped event", sample=("Secretname Phone 5550199" + "x" * 500)[:64])


def test_type_is_checked_before_anything_else() -> None:
    assert normalize({"type": "identify"}, DEFAULT) == Filtered("identify not tracked")


# -- ids -------------------------------------------------------------------------------------------


def test_the_message_id_is_the_event_id() -> None:
    assert one(normalize(viewed(messageId="abc-123"), DEFAULT)).event_id == "abc-123"


@pytest.mark.parametrize(("value", "text"), [(123, "123"), (12.0, "12"), (1.5, "1.5")])
def test_a_numeric_message_id_becomes_a_string(value: Any, text: str) -> None:
    assert one(normalize(viewed(messageId=value), DEFAULT)).event_id == text


@pytest.mark.parametrize(
    ("message_id", "reason"),
    [
        (None, "no messageId"),
        ("", "eventId is empty"),
        (True, "messageId is not a string or number"),
        ({"id": 1}, "messageId is not a string or number"),
        ("m" * 257, "eventId longer than 256 characters"),
    ],
)
def test_an_unusable_message_id_is_poison(message_id: Any, reason: str) -> None:
    assert normalize(viewed(messageId=message_id), DEFAULT) == Poison(reason)


def test_a_message_without_message_id_is_poison() -> None:
    message = viewed()
    del message["messageId"]
    assert normalize(message, DEFAULT) == Poison("no messageId")


def test_a_numeric_user_id_becomes_a_string() -> None:
    interaction = one(
        normalize(segment_track("Product Viewed", user_id=42, properties={"product_id": "p"}), DEFAULT)
    )
    assert (interaction.user_id, interaction.session_id) == ("42", "42")
    assert one(normalize(viewed(userId=42.0), DEFAULT)).user_id == "42"


def test_the_anonymous_id_is_the_session_and_the_user_id_is_kept() -> None:
    interaction = one(normalize(viewed(userId="u1", anonymousId="anon-1"), DEFAULT))
    assert (interaction.user_id, interaction.session_id) == ("u1", "anon-1")


def test_an_anonymous_visitor_is_tracked_without_a_user_id() -> None:
    message = segment_track(
        "Product Viewed", user_id=None, anonymous_id="anon-1", properties={"product_id": "p"}
    )
    interaction = one(normalize(message, DEFAULT))
    assert (interaction.user_id, interaction.session_id) == (None, "anon-1")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"userId": None}, "no anonymousId or userId"),
        ({"userId": True}, "userId is not a string or number"),
        ({"userId": ["u1"]}, "userId is not a string or number"),
        ({"userId": "", "anonymousId": None}, "no anonymousId or userId"),
        ({"userId": "u\x00v"}, "userId contains a NUL character"),
        ({"userId": "u" * 257}, "userId longer than 256 characters"),
        ({"userId": 10**300}, "userId longer than 256 characters"),
        ({"userId": "u\ud800"}, "userId is not valid Unicode"),
        ({"anonymousId": False}, "anonymousId is not a string or number"),
        ({"anonymousId": "a" * 257}, "sessionId longer than 256 characters"),
        ({"anonymousId": "", "userId": None}, "no anonymousId or userId"),
        ({"anonymousId": "\x00"}, "sessionId contains a NUL character"),
        ({"messageId": "m\x001"}, "eventId contains a NUL character"),
        ({"properties": {"product_id": "p\x00"}}, "itemId contains a NUL character"),
    ],
)
def test_unusable_user_ids_are_poison(overrides: dict[str, Any], reason: str) -> None:
    assert normalize(viewed(**overrides), DEFAULT) == Poison(reason)


def test_ids_at_the_limit_are_accepted() -> None:
    interaction = one(normalize(viewed(userId="u" * 256, messageId="m" * 256), DEFAULT))
    assert (len(interaction.user_id or ""), len(interaction.event_id)) == (256, 256)


# -- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp": "2026-11-01T12:00:00.123Z"}, datetime(2026, 11, 1, 12, 0, 0, 123_000, tzinfo=UTC)),
        (
            {"timestamp": "2026-11-01T12:00:00.123456789Z"},
            datetime(2026, 11, 1, 12, 0, 0, 123_456, tzinfo=UTC),
        ),
        ({"timestamp": "2026-11-01T07:00:00-05:00"}, datetime(2026, 11, 1, 12, 0, tzinfo=UTC)),
        ({"timestamp": "2026-11-01T17:30:00.5+05:30"}, datetime(2026, 11, 1, 12, 0, 0, 500_000, tzinfo=UTC)),
        ({"timestamp": "2026-11-01T12:00:00"}, datetime(2026, 11, 1, 12, 0, tzinfo=UTC)),
        (
            {"timestamp": "yesterday", "originalTimestamp": "2026-11-01T12:00:01Z"},
            datetime(2026, 11, 1, 12, 0, 1, tzinfo=UTC),
        ),
        (
            {
                "timestamp": "2026-11-01",
                "originalTimestamp": 1700000000,
                "receivedAt": "2026-11-01T12:00:02Z",
            },
            datetime(2026, 11, 1, 12, 0, 2, tzinfo=UTC),
        ),
    ],
)
def test_the_event_time_is_the_first_usable_timestamp_in_utc(
    fields: dict[str, Any], expected: datetime
) -> None:
    message = viewed()
    del message["timestamp"]
    sent_at = one(normalize({**message, **fields}, DEFAULT)).sent_at
    assert sent_at == expected and sent_at.utcoffset() is not None and sent_at.tzinfo == UTC


@pytest.mark.parametrize(
    "value", [None, "", "not a date", "2026-13-01T00:00:00Z", 1700000000, "0001-01-01T00:00+01:00"]
)
def test_no_usable_timestamp_is_poison(value: Any) -> None:
    assert normalize(viewed(timestamp=value), DEFAULT) == Poison("no usable timestamp")


# -- items -----------------------------------------------------------------------------------------


def test_the_sku_is_the_item_when_there_is_no_product_id() -> None:
    message = segment_track("Product Viewed", properties={"sku": "G-32"})
    assert one(normalize(message, DEFAULT)).item_id == "G-32"
    message = segment_track("Product Viewed", properties={"product_id": "", "sku": 32})
    assert one(normalize(message, DEFAULT)).item_id == "32"


@pytest.mark.parametrize("properties", [{}, {"product_id": None}, {"product_id": {"id": 1}}, {"sku": True}])
def test_an_event_without_item_id_is_filtered(properties: dict[str, Any]) -> None:
    message = segment_track("Product Viewed", properties=properties)
    assert normalize(message, DEFAULT) == Filtered("event without item id")


@pytest.mark.parametrize("properties", [None, "text", [1, 2], 5])
def test_properties_that_are_not_an_object_mean_no_item(properties: Any) -> None:
    assert normalize(viewed(properties=properties), DEFAULT) == Filtered("event without item id")


def test_a_300_character_product_id_is_poison() -> None:
    message = segment_track("Product Viewed", properties={"product_id": "p" * 300, "sku": "short"})
    assert normalize(message, DEFAULT) == Poison("itemId longer than 256 characters")


def test_a_12_product_order_gives_12_interactions_in_order() -> None:
    products = [{"product_id": f"p{i}", "price": i} for i in range(12)]
    interactions = tracked(normalize(order(products, message_id="order-1"), DEFAULT))
    assert [i.item_id for i in interactions] == [f"p{i}" for i in range(12)]
    assert [i.event_id for i in interactions] == [f"order-1#{i}" for i in range(12)]
    assert len({i.event_id for i in interactions}) == 12
    assert {i.sent_at for i in interactions} == {datetime(2026, 11, 1, 12, 0, tzinfo=UTC)}


def test_the_same_order_always_gives_the_same_event_ids() -> None:
    message = order([{"product_id": "a"}, {"sku": "b"}])
    first = [i.event_id for i in tracked(normalize(message, DEFAULT))]
    assert first == [i.event_id for i in tracked(normalize(json.loads(json.dumps(message)), DEFAULT))]


def test_products_without_an_id_are_skipped_and_indexes_stay_stable() -> None:
    products: list[Any] = [{"name": "no id"}, {"sku": "s1"}, "junk", {"product_id": True}, {"product_id": 7}]
    interactions = tracked(normalize(order(products, message_id="m"), DEFAULT))
    assert [(i.event_id, i.item_id) for i in interactions] == [("m#1", "s1"), ("m#4", "7")]


@pytest.mark.parametrize("products", [[], [{"name": "a"}, {"sku": ""}], [None, 3]])
def test_a_product_event_without_any_item_id_is_filtered(products: list[Any]) -> None:
    assert normalize(order(products), DEFAULT) == Filtered("product event without item id")


def test_a_product_id_too_long_inside_an_order_poisons_the_whole_order() -> None:
    products = [{"product_id": "ok"}, {"product_id": "p" * 300}]
    assert normalize(order(products), DEFAULT) == Poison("itemId longer than 256 characters")


def test_a_message_id_too_long_to_derive_product_event_ids_is_poison() -> None:
    products = [{"product_id": "a"}, {"product_id": "b"}]
    assert normalize(order(products, message_id="m" * 255), DEFAULT) == Poison(
        "eventId longer than 256 characters"
    )
    assert len(tracked(normalize(order(products, message_id="m" * 254), DEFAULT))) == 2


def test_products_that_are_not_a_list_fall_back_to_the_single_item_paths() -> None:
    message = segment_track(
        "Order Completed", properties={"products": {"product_id": "x"}, "product_id": "p"}
    )
    assert one(normalize(message, DEFAULT)).item_id == "p"
    message = segment_track("Order Completed", properties={"products": "p1,p2"})
    assert normalize(message, DEFAULT) == Filtered("event without item id")


def test_an_event_may_be_tracked_without_item_when_its_rule_says_so() -> None:
    event_map = EventMap.from_json({"events": {"Searched": {"item_required": False}}})
    interaction = one(normalize(segment_track("Searched", message_id="s"), event_map))
    assert (interaction.item_id, interaction.event_id, interaction.event_type) == (None, "s", "Searched")


def test_page_views_are_tracked_when_the_map_lists_them() -> None:
    event_map = EventMap.from_json(
        {"events": {"page": {"event_type": "PageView", "item_required": False}}, "track_types": ["page"]}
    )
    interaction = one(normalize(sample("page"), event_map))
    assert (interaction.event_type, interaction.item_id, interaction.user_id) == (
        "PageView",
        None,
        "97980cfea0067",
    )
    assert normalize(sample("screen"), event_map) == Filtered("screen not tracked")


def test_the_event_type_comes_from_the_map() -> None:
    event_map = EventMap.from_json({"events": {"Product Added": {"event_type": "AddToCart"}}})
    message = segment_track("Product Added", properties={"product_id": "p"})
    assert one(normalize(message, event_map)).event_type == "AddToCart"


# -- event value -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rating", "value"),
    [
        (4, 4.0),
        (4.5, 4.5),
        ("5", 5.0),
        (" 3.5 ", 3.5),
        ("great", None),
        (True, None),
        (None, None),
        ("nan", None),
        ("1e999", None),
        (10**400, None),
        ([5], None),
        ("9" * 100, None),
    ],
)
def test_the_event_value_is_a_finite_number_or_left_out(rating: Any, value: float | None) -> None:
    message = segment_track("Product Reviewed", properties={"product_id": "p", "rating": rating})
    assert one(normalize(message, DEFAULT)).event_value == value


# -- properties, recommendation id, impression -----------------------------------------------------


def test_whitelisted_properties_are_forwarded_as_compact_camel_case_json() -> None:
    message = segment_track(
        "Product Viewed",
        properties={
            "product_id": "p",
            "category": "Games",
            "discount_code": "MAY",
            "price": 18.99,
            "in_stock": True,
            "brand": "Hasbro",
        },
    )
    properties = one(normalize(message, WHITELIST)).properties
    assert properties == '{"category":"Games","discountCode":"MAY","price":18.99,"inStock":true}'


def test_without_whitelisted_values_there_are_no_properties() -> None:
    message = segment_track(
        "Product Viewed", properties={"product_id": "p", "brand": "Hasbro", "category": None}
    )
    assert one(normalize(message, WHITELIST)).properties is None
    assert one(normalize(viewed(), DEFAULT)).properties is None


def test_only_scalar_property_values_are_forwarded() -> None:
    message = segment_track(
        "Product Viewed",
        properties={
            "product_id": "p",
            "category": ["a", "b"],
            "price": {"amount": 1},
            "discount_code": 2**70,
            "in_stock": 0,
        },
    )
    assert one(normalize(message, WHITELIST)).properties == '{"inStock":0}'


def test_a_products_own_properties_win_over_the_orders() -> None:
    message = order([{"product_id": "a", "category": "Games", "price": 19}, {"product_id": "b"}])
    message["properties"]["discount_code"] = "MAY"
    message["properties"]["category"] = "Mixed"
    first, second = tracked(normalize(message, WHITELIST))
    assert first.properties == '{"category":"Games","discountCode":"MAY","price":19}'
    assert second.properties == '{"category":"Mixed","discountCode":"MAY"}'


def test_properties_longer_than_personalize_allows_are_poison() -> None:
    message = segment_track("Product Viewed", properties={"product_id": "p", "category": "c" * 1010})
    assert normalize(message, WHITELIST) == Poison("properties longer than 1024 characters")


def test_non_ascii_properties_are_measured_in_characters() -> None:
    category = "é" * 1000
    message = segment_track("Product Viewed", properties={"product_id": "p", "category": category})
    assert one(normalize(message, WHITELIST)).properties == f'{{"category":"{category}"}}'


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"recommendation_id": "RID-1"}, "RID-1"),
        ({"recommendationId": "RID-2"}, "RID-2"),
        ({"recommendation_id": None, "recommendationId": "RID-3"}, "RID-3"),
        ({"recommendation_id": 77}, "77"),
        ({"recommendation_id": ""}, None),
        ({"recommendation_id": {"id": 1}}, None),
        ({}, None),
    ],
)
def test_the_recommendation_id_is_kept_when_present(properties: dict[str, Any], expected: str | None) -> None:
    message = segment_track("Product Clicked", properties={"product_id": "p", **properties})
    assert one(normalize(message, DEFAULT)).recommendation_id == expected


def test_a_recommendation_id_longer_than_40_is_poison() -> None:
    message = segment_track("Product Clicked", properties={"product_id": "p", "recommendation_id": "r" * 41})
    assert normalize(message, DEFAULT) == Poison("recommendationId longer than 40 characters")


def test_the_impression_is_kept_as_item_ids() -> None:
    message = segment_track(
        "Product Clicked", properties={"product_id": "p", "impression": ["a", 2, None, "", "c"]}
    )
    assert one(normalize(message, DEFAULT)).impression == ("a", "2", "c")
    message = segment_track("Product Clicked", properties={"product_id": "p", "impression": "a,b"})
    assert one(normalize(message, DEFAULT)).impression == ()


@pytest.mark.parametrize(
    ("impression", "reason"),
    [
        ([f"i{n}" for n in range(26)], "impression has more than 25 items"),
        (["ok", "i" * 257], "impression item longer than 256 characters"),
    ],
)
def test_an_impression_over_the_limits_is_poison(impression: list[str], reason: str) -> None:
    message = segment_track("Product Clicked", properties={"product_id": "p", "impression": impression})
    assert normalize(message, DEFAULT) == Poison(reason)


def test_25_impressions_are_accepted() -> None:
    impression = [f"i{n}" for n in range(25)]
    message = segment_track("Product Clicked", properties={"product_id": "p", "impression": impression})
    assert one(normalize(message, DEFAULT)).impression == tuple(impression)


# -- never raises ----------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)
ids = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300) | st.just("")
product = (
    st.fixed_dictionaries({}, optional={"product_id": ids, "sku": ids, "category": scalars, "price": scalars})
    | json_values
)
segment_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "page", "identify", "bogus"]) | json_values,
        "event": st.sampled_from(["Product Viewed", "Order Completed", "Product Reviewed", "Other"])
        | json_values,
        "messageId": ids,
        "userId": ids,
        "anonymousId": ids,
        "timestamp": st.sampled_from(["2026-11-01T12:00:00Z", "0001-01-01T00:00:00+01:00"]) | json_values,
        "originalTimestamp": st.text(max_size=40) | json_values,
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "product_id": ids,
                "sku": ids,
                "rating": scalars,
                "category": scalars,
                "recommendation_id": ids,
                "impression": st.lists(ids, max_size=30) | json_values,
                "products": st.lists(product, max_size=5) | json_values,
            },
        )
        | json_values,
    },
)


# Valid ids: no NUL, no lone surrogate (both are poison by design, with tests of their own).
good_chars = st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])
good_ids = st.text(good_chars, min_size=1, max_size=40) | st.integers(0, 10**12)
mostly_valid = st.fixed_dictionaries(
    {
        "type": st.just("track"),
        "event": st.sampled_from(["Product Viewed", "Order Completed", "Product Reviewed"]),
        "messageId": good_ids,
        "userId": st.none() | good_ids,
        "anonymousId": good_ids,
        "timestamp": st.sampled_from(["2026-11-01T12:00:00.123Z", "2026-11-01T12:00:00+05:30", "nope"]),
        "receivedAt": st.just("2026-11-01T12:00:01Z"),
        "properties": st.fixed_dictionaries(
            {"product_id": good_ids},
            optional={
                "rating": scalars,
                "category": scalars,
                "price": scalars,
                "recommendation_id": ids,
                "impression": st.lists(ids, max_size=30) | json_values,
                "products": st.lists(product, max_size=5) | json_values,
            },
        ),
    }
)


def check_outcome(outcome: Normalized) -> None:
    if isinstance(outcome, Filtered | Poison):
        assert outcome.reason and len(outcome.reason) < 120
        return
    assert isinstance(outcome, Tracked) and outcome.interactions
    for i in outcome.interactions:
        for value in (i.event_id, i.session_id, i.item_id or "x", i.user_id or "x", *i.impression):
            assert 1 <= len(value) <= 256
            value.encode("utf-8")
        assert i.sent_at.tzinfo == UTC
        assert len(i.impression) <= 25
        assert i.recommendation_id is None or 1 <= len(i.recommendation_id) <= 40
        assert i.properties is None or len(i.properties) <= 1024
        assert i.event_value is None or isinstance(i.event_value, float)


@settings(max_examples=300)
@given(segment_like)
def test_no_segment_like_message_makes_normalize_raise(message: dict[str, Any]) -> None:
    check_outcome(normalize(message, WHITELIST))
    check_outcome(normalize(message, DEFAULT))


@given(json_values)
def test_no_json_value_makes_normalize_raise(value: Any) -> None:
    check_outcome(normalize(value, DEFAULT))


@settings(max_examples=300)
@given(mostly_valid)
def test_no_mostly_valid_message_makes_normalize_raise_and_most_are_tracked(message: dict[str, Any]) -> None:
    outcome = normalize(message, WHITELIST)
    check_outcome(outcome)
    # Only the optional fields that can break a limit may keep these from being tracked.
    props = message["properties"]
    risky = ("impression", "recommendation_id", "products")
    if not any(props.get(k) for k in risky):
        if not isinstance(props.get("category"), str) or len(props["category"]) < 900:
            assert isinstance(outcome, Tracked), outcome


# -- empty ids, clock skew (issue 14) ---------------------------------------------------------------


def test_an_empty_user_id_falls_back_to_the_anonymous_id() -> None:
    interaction = one(normalize(viewed(userId="", anonymousId="anon-7"), DEFAULT))
    assert (interaction.user_id, interaction.session_id) == (None, "anon-7")


def test_an_empty_anonymous_id_falls_back_to_the_user_id() -> None:
    interaction = one(normalize(viewed(userId="u1", anonymousId=""), DEFAULT))
    assert (interaction.user_id, interaction.session_id) == ("u1", "u1")


NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "expected", "clamped"),
    [
        # Segment's receipt time bounds the event time, with five minutes of skew allowed.
        (
            {"timestamp": "9999-12-31T23:59:59Z", "receivedAt": "2026-11-30T10:00:00Z"},
            "2026-11-30T10:00:00",
            True,
        ),
        (
            {"timestamp": "2026-11-30T10:04:59Z", "receivedAt": "2026-11-30T10:00:00Z"},
            "2026-11-30T10:04:59",
            False,
        ),
        (
            {"timestamp": "2026-11-30T10:05:01Z", "receivedAt": "2026-11-30T10:00:00Z"},
            "2026-11-30T10:00:00",
            True,
        ),
        # Without receivedAt, the reader's clock is the receipt.
        ({"timestamp": "2027-01-01T00:00:00Z"}, "2026-12-01T08:00:00", True),
        ({"timestamp": "2026-12-01T08:04:00Z"}, "2026-12-01T08:04:00", False),
        # A receivedAt in the future is not believed either.
        (
            {"timestamp": "9999-01-01T00:00:00Z", "receivedAt": "9999-01-01T00:00:00Z"},
            "2026-12-01T08:00:00",
            True,
        ),
        # Old times are kept (real history is old); times before the Unix epoch are no time at all.
        ({"timestamp": "1997-11-10T12:00:00Z"}, "1997-11-10T12:00:00", False),
        (
            {"timestamp": "1969-12-31T23:59:59Z", "originalTimestamp": "2026-11-02T00:00:00Z"},
            "2026-11-02T00:00:00",
            False,
        ),
    ],
)
def test_an_event_time_past_its_receipt_is_clamped_to_it(
    fields: dict[str, Any], expected: str, clamped: bool
) -> None:
    message = viewed()
    message.update(fields)
    outcome = normalize(message, DEFAULT, NOW)
    assert isinstance(outcome, Tracked)
    assert one(outcome).sent_at == datetime.fromisoformat(expected).replace(tzinfo=UTC)
    assert outcome.time_clamped is clamped


def test_a_time_before_the_unix_epoch_alone_is_no_usable_timestamp() -> None:
    assert normalize(viewed(timestamp="1900-01-01T00:00:00Z"), DEFAULT, NOW) == Poison("no usable timestamp")
