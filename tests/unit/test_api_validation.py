"""Query parameters and POST /events bodies: strict parsing, and the review shape as a Segment track call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.web.contract import ApiError, parse_query_string
from consumers.web.event_body import derived_message_id, parse_body, segment_message
from consumers.web.validation import events_num_results, recommendation_query

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def query(text: str) -> tuple[tuple[str, str], ...]:
    return parse_query_string(text)


def test_full_query_is_parsed() -> None:
    parsed = recommendation_query(
        query(
            "userId=user%20%C3%A9&numResults=7&filter=instock&filterValues.CATEGORY=%22shoes%22&includeMetadata=true"
        )
    )
    assert parsed.user_id == "user é" and parsed.num_results == 7
    assert parsed.filter_name == "instock" and dict(parsed.filter_values) == {"CATEGORY": '"shoes"'}
    assert parsed.include_metadata is True and parsed.item_id is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("userId=u&numResults=%EF%BC%93", "numResults"),  # a fullwidth digit: int() would take it
        ("userId=u&numResults=+3", "numResults"),
        ("userId=u&numResults=3.0", "numResults"),
        ("userId=u&numResults=99999999999999999999", "numResults"),
        ("userId=u&colour=red", "unknown query parameter; this route takes"),
        ("userId=u&filterValues.bad-name=x&filter=f", "NAME must be"),
        ("userId=u&filter=f&" + "&".join(f"filterValues.K{n}=v" for n in range(26)), "at most 25"),
        ("userId=u&filter=f&filterValues.K=" + "v" * 1001, "at most 1000"),
        ("userId=a%C2%85b", "control characters"),  # NEL, a C1 control character
        ("userId=%ED%A0%80", "not valid Unicode"),  # an encoded lone surrogate
    ],
)
def test_bad_parameters_name_the_problem(text: str, says: str) -> None:
    with pytest.raises(ApiError) as caught:
        recommendation_query(query(text))
    assert caught.value.status == 400 and says in caught.value.message


def test_error_messages_never_echo_values() -> None:
    with pytest.raises(ApiError) as caught:
        recommendation_query(query("userId=secret%01value"))
    assert "secret" not in caught.value.message


@given(st.text(min_size=1, max_size=300))
def test_any_user_id_is_accepted_or_refused_with_a_400(user_id: str) -> None:
    pairs = (("userId", user_id),)
    try:
        parsed = recommendation_query(pairs)
    except ApiError as error:
        assert error.status == 400
    else:
        assert parsed.user_id == user_id and len(user_id) <= 256


def test_events_take_only_num_results() -> None:
    assert events_num_results(query("numResults=4")) == 4
    assert events_num_results(()) is None
    with pytest.raises(ApiError):
        events_num_results(query("userId=u"))


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_review_becomes_a_track_message_with_a_stable_id() -> None:
    review = {
        "userId": "u1",
        "itemId": "p1",
        "eventType": "Product Reviewed",
        "rating": 5,
        "timestamp": "2026-11-01T10:00:00Z",
    }
    message = segment_message(parse_body(body(review), "application/json"), lambda: NOW)
    assert message == {
        "type": "track",
        "event": "Product Reviewed",
        "userId": "u1",
        "properties": {"product_id": "p1", "rating": 5},
        "timestamp": "2026-11-01T10:00:00Z",
        "messageId": derived_message_id(review),
        "receivedAt": "2026-11-03T09:30:00.000+00:00",
    }
    reordered = dict(reversed(list(review.items())))
    assert derived_message_id(reordered) == message["messageId"]  # key order does not matter
    assert derived_message_id({**review, "rating": 4}) != message["messageId"]


def test_segment_message_keeps_its_own_id_and_time() -> None:
    track = {
        "type": "track",
        "event": "Product Viewed",
        "userId": 42,
        "messageId": "m1",
        "receivedAt": "2026-01-01T00:00:00Z",
    }
    assert segment_message(parse_body(body(track), "application/json; charset=utf-8"), lambda: NOW) == track


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"x" * (32 * 1024 + 1), "application/json", 413),
        (b"{}", "application/x-www-form-urlencoded", 415),
        (b"{}", None, 415),
        (b'{"a": NaN}', "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
    ],
)
def test_bodies_that_are_not_one_json_object(raw: bytes, content_type: str | None, status: int) -> None:
    with pytest.raises(ApiError) as caught:
        parse_body(raw, content_type)
    assert caught.value.status == status


@pytest.mark.parametrize(
    "document",
    [
        {"type": 1},
        {"type": "track", "userId": True},
        {"type": "track", "userId": "a\nb"},
        {"type": "track", "properties": []},
        {"type": "track", "timestamp": "yesterday"},
        {"userId": "u", "itemId": "p", "eventType": "", "rating": 1},
        {"userId": "u", "itemId": "p", "eventType": "E", "rating": True},
        {"userId": "u", "itemId": 7, "eventType": "E"},
    ],
)
def test_malformed_shapes_are_400(document: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        segment_message(document, lambda: NOW)
    assert caught.value.status == 400


def test_a_huge_integer_rating_is_kept_not_crashed_on() -> None:
    message = segment_message(
        {"userId": "u", "itemId": "p", "eventType": "E", "rating": 10**400}, lambda: NOW
    )
    assert message["properties"]["rating"] == 10**400
