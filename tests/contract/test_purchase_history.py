"""PurchaseHistory contract: the local store and Segment's Profile API (loopback receiver) agree."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import pytest
import requests

from destinations.local import LocalPurchaseHistory, LocalStore
from destinations.ports import PurchaseHistory
from destinations.segment.profile_api import ProfileApiPurchaseHistory
from schemas.errors import PermanentError, RetryableError
from schemas.interaction import Interaction
from tests.support.http_receiver import HttpReceiver, RecordedRequest, Reply

SPACE = "spa_123"
TOKEN = "profile-token-xyz"
TRAIT = "purchased_products"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def traits_path(user_id: str) -> str:
    return f"/v1/spaces/{SPACE}/collections/users/profiles/user_id:{quote(user_id, safe='')}/traits"


class PurchaseHarness(Protocol):
    history: PurchaseHistory

    def given_purchases(self, user_id: str, items: list[str]) -> None:
        """The user bought ``items`` (and viewed something else, which must not count)."""


class LocalHarness:
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.history: PurchaseHistory = LocalPurchaseHistory(store, frozenset({"Order Completed"}))
        self._n = 0

    def given_purchases(self, user_id: str, items: list[str]) -> None:
        events = []
        for item in [*items, "viewed-only"]:
            self._n += 1
            event_type = "Product Viewed" if item == "viewed-only" else "Order Completed"
            events.append(
                Interaction(f"e{self._n}", event_type, "s1", T0 + timedelta(seconds=self._n), user_id, item)
            )
        self.store.add_interactions(events)


class ProfileApiHarness:
    """Profiles as Segment would serve them: the trait as a list of ids, 404 for unknown users."""

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        self.history: PurchaseHistory = ProfileApiPurchaseHistory(
            SPACE, TOKEN, host=receiver.url, trait=TRAIT
        )
        receiver.route(
            f"/v1/spaces/{SPACE}/collections/users/profiles/*", lambda _: Reply(404, {"error": {}})
        )

    def given_purchases(self, user_id: str, items: list[str]) -> None:
        self.receiver.script(
            traits_path(user_id), Reply(200, page({TRAIT: items, "viewed": ["viewed-only"]}))
        )


def page(traits: dict[str, Any], *, next_cursor: str | None = None) -> dict[str, Any]:
    return {
        "traits": traits,
        "cursor": {"url": "", "has_more": next_cursor is not None, "next": next_cursor or "", "limit": 200},
    }


@pytest.fixture(params=["local", "profile-api"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PurchaseHarness]:
    if request.param == "local":
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield LocalHarness(store)
        store.close()
    else:
        with HttpReceiver() as receiver:
            yield ProfileApiHarness(receiver)


def test_the_items_a_user_bought(harness: PurchaseHarness) -> None:
    harness.given_purchases("alice", ["p1", "p2", "p2"])
    assert harness.history.purchased_items("alice") == frozenset({"p1", "p2"})


def test_an_unknown_user_bought_nothing(harness: PurchaseHarness) -> None:
    harness.given_purchases("alice", ["p1"])
    assert harness.history.purchased_items("nobody") == frozenset()


def test_users_are_kept_apart(harness: PurchaseHarness) -> None:
    harness.given_purchases("alice", ["p1"])
    harness.given_purchases("bob", ["p2"])
    assert harness.history.purchased_items("alice") == frozenset({"p1"})
    assert harness.history.purchased_items("bob") == frozenset({"p2"})


def test_odd_user_ids_are_looked_up_exactly(harness: PurchaseHarness) -> None:
    odd = "jane+shop/1@example.com"
    harness.given_purchases(odd, ["p5"])
    assert harness.history.purchased_items(odd) == frozenset({"p5"})


# -- Profile API specifics ---------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver(default=Reply(404, {"error": {"code": "not_found"}})) as running:
        yield running


def history(receiver: HttpReceiver, **options: Any) -> ProfileApiPurchaseHistory:
    return ProfileApiPurchaseHistory(SPACE, TOKEN, host=receiver.url, **options)


def test_the_request_asks_for_the_one_trait_with_basic_auth(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, page({TRAIT: ["p1"]})))
    history(receiver).purchased_items("alice")
    (request,) = receiver.requests
    assert request.method == "GET"
    assert request.query == {"include": [TRAIT], "limit": ["200"]}
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{TOKEN}:".encode()).decode()


def test_pages_are_followed_with_the_next_cursor(receiver: HttpReceiver) -> None:
    def paged(request: RecordedRequest) -> Reply:
        cursor = request.param("next")
        if cursor is None:
            return Reply(200, page({TRAIT: ["p1"]}, next_cursor="c2"))
        if cursor == "c2":
            return Reply(200, page({}, next_cursor="c3"))
        return Reply(200, page({TRAIT: ["p3"]}))

    receiver.route(traits_path("alice"), paged)
    assert history(receiver).purchased_items("alice") == frozenset({"p1", "p3"})
    assert [r.param("next") for r in receiver.requests] == [None, "c2", "c3"]
    assert all(r.param("include") == TRAIT for r in receiver.requests)


def test_a_cursor_that_repeats_ends_the_walk(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, page({TRAIT: ["p1"]}, next_cursor="same")))
    assert history(receiver).purchased_items("alice") == frozenset({"p1"})
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["p1", "p2"], {"p1", "p2"}),
        ("p1, p2,,p3 ", {"p1", "p2", "p3"}),
        ([{"product_id": "p1", "price": 3}, {"sku": "s-2"}, {"id": 7}], {"p1", "s-2", "7"}),
        ([101, "p2"], {"101", "p2"}),
        ("", set()),
        (None, set()),
        ([{"name": "no id"}, True, ["nested"]], set()),
    ],
)
def test_the_trait_may_take_any_common_shape(receiver: HttpReceiver, value: Any, expected: set[str]) -> None:
    receiver.script(traits_path("alice"), Reply(200, page({TRAIT: value})))
    assert history(receiver).purchased_items("alice") == frozenset(expected)


def test_a_profile_without_the_trait_bought_nothing(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, {"traits": {"email_opt_in": True}}))
    assert history(receiver).purchased_items("alice") == frozenset()


def test_the_trait_name_is_configurable(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, page({"bought": ["p9"]})))
    assert history(receiver, trait="bought").purchased_items("alice") == frozenset({"p9"})
    assert receiver.requests[0].param("include") == "bought"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, RetryableError),
        (500, RetryableError),
        (503, RetryableError),
        (400, PermanentError),
        (401, PermanentError),
        (403, PermanentError),
    ],
)
def test_errors_are_translated(receiver: HttpReceiver, status: int, expected: type[Exception]) -> None:
    receiver.script(
        traits_path("alice"), Reply(status, {"error": {"code": "rate_limit_error", "message": "slow"}})
    )
    with pytest.raises(expected) as caught:
        history(receiver).purchased_items("alice")
    assert getattr(caught.value, "code", None) == "rate_limit_error"
    assert "alice" not in str(caught.value)


def test_a_timeout_is_retryable(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, page({TRAIT: ["p1"]}), delay=1.0))
    with pytest.raises(RetryableError):
        history(receiver, timeout=0.05).purchased_items("alice")


def test_a_garbled_answer_is_retryable(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, "<html>maintenance</html>"))
    with pytest.raises(RetryableError):
        history(receiver).purchased_items("alice")


def test_an_injected_session_is_used(receiver: HttpReceiver) -> None:
    receiver.script(traits_path("alice"), Reply(200, page({TRAIT: ["p1"]})))
    with requests.Session() as session:
        session.headers["X-Probe"] = "yes"
        history(receiver, session=session).purchased_items("alice")
    assert receiver.requests[0].headers["x-probe"] == "yes"
