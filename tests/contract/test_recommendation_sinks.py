"""RecommendationSink contract: Personas traits and Pinpoint attributes, local and cloud, behave alike.

Cloud sides: Segment's /v1/batch on a loopback receiver; Pinpoint through a real botocore client answered
by a Stubber that keeps the endpoints' state, so a second publish reads what the first one wrote.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from botocore.stub import Stubber

from destinations.aws.pinpoint import PinpointEndpointSink
from destinations.local import LocalPersonasSink, LocalPinpointSink, LocalStore
from destinations.local.sinks import default_endpoint_id
from destinations.ports import RecommendationSink
from destinations.segment.personas import PersonasTraitSink
from schemas.delivery import DeliveryReport
from schemas.errors import PermanentError
from schemas.limits import PINPOINT_ATTRIBUTE_MAX_VALUES, PINPOINT_ENDPOINTS_PER_BATCH
from schemas.recommendation import Recommendation, ScoredItem
from schemas.traits import RECOMMENDED_PRODUCTS, RECOMMENDED_PRODUCTS_STR
from tests.support.http_receiver import HttpReceiver

APP_ID = "pinpoint-app-1"
WRITE_KEY = "wk-contract"


def rec(user: str, *items: str, cause: str = "evt-1") -> Recommendation:
    return Recommendation(user, f"RID-{user}", tuple(ScoredItem(i) for i in items), refresh_key=cause)


class SinkHarness(Protocol):
    sink: RecommendationSink

    def given_user(self, user_id: str, other_attributes: dict[str, list[str]]) -> None:
        """The user exists where the sink writes (Pinpoint: has an endpoint) with some other attribute."""

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport: ...

    def recommended(self, user_id: str) -> list[str] | None:
        """The user's recommended_products as the destination holds it now (None: never written)."""

    def other_attributes(self, user_id: str) -> dict[str, list[str]]:
        """Everything the destination holds for the user besides what the sink writes."""


# -- local -------------------------------------------------------------------------------------------


class LocalPersonasHarness:
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.sink: RecommendationSink = LocalPersonasSink(store)

    def given_user(self, user_id: str, other_attributes: dict[str, list[str]]) -> None:
        self.store.set_traits(user_id, other_attributes, "earlier-message")

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return self.sink.publish(recommendations)

    def recommended(self, user_id: str) -> list[str] | None:
        return _recommended_trait(self.store.traits_for(user_id))

    def other_attributes(self, user_id: str) -> dict[str, list[str]]:
        return _other_traits(self.store.traits_for(user_id))


def _recommended_trait(traits: dict[str, Any]) -> list[str] | None:
    """recommended_products, checked against its comma-joined twin (both are always written together)."""
    if RECOMMENDED_PRODUCTS not in traits:
        return None
    values = traits[RECOMMENDED_PRODUCTS]
    assert isinstance(values, list)
    assert traits[RECOMMENDED_PRODUCTS_STR] == ",".join(values)
    return [str(value) for value in values]


def _other_traits(traits: dict[str, Any]) -> dict[str, list[str]]:
    return {k: v for k, v in traits.items() if k not in (RECOMMENDED_PRODUCTS, RECOMMENDED_PRODUCTS_STR)}


class LocalPinpointHarness:
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.sink: RecommendationSink = LocalPinpointSink(store)

    def given_user(self, user_id: str, other_attributes: dict[str, list[str]]) -> None:
        self.store.set_endpoint_attributes(user_id, default_endpoint_id(user_id), other_attributes)

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return self.sink.publish(recommendations)

    def recommended(self, user_id: str) -> list[str] | None:
        return _agreed_value(self.store.endpoint_attributes_for(user_id))

    def other_attributes(self, user_id: str) -> dict[str, list[str]]:
        return _other_attributes(self.store.endpoint_attributes_for(user_id))


def _agreed_value(endpoints: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """The one value every endpoint of the user holds (a user's endpoints must never disagree)."""
    values = [attributes.get(RECOMMENDED_PRODUCTS) for attributes in endpoints.values()]
    if not values or values[0] is None:
        return None
    assert all(value == values[0] for value in values), f"endpoints disagree: {values}"
    return values[0]


def _other_attributes(endpoints: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for attributes in endpoints.values():
        merged.update({k: v for k, v in attributes.items() if k != RECOMMENDED_PRODUCTS})
    return merged


# -- cloud -------------------------------------------------------------------------------------------


class SegmentHarness:
    """Reads the receiver's /v1/batch requests as Personas would: identify by identify, in the order they
    arrived, every message as sent (a resent list must carry its first message id: test_segment_personas)."""

    def __init__(self, receiver: HttpReceiver) -> None:
        self.receiver = receiver
        self.sink: RecommendationSink = PersonasTraitSink(WRITE_KEY, host=receiver.url, timeout=5)
        self.seeded: dict[str, dict[str, list[str]]] = {}

    def given_user(self, user_id: str, other_attributes: dict[str, list[str]]) -> None:
        self.seeded[user_id] = dict(other_attributes)

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return self.sink.publish(recommendations)

    def identifies(self) -> list[dict[str, Any]]:
        sent = []
        for request in self.receiver.requests_to("/v1/batch"):
            body = request.json()
            assert body["writeKey"] == WRITE_KEY
            sent.extend(body["batch"])
        return sent

    def traits(self, user_id: str) -> dict[str, Any]:
        traits: dict[str, Any] = dict(self.seeded.get(user_id, {}))
        for message in self.identifies():
            if message["type"] == "identify" and message["userId"] == user_id:
                traits.update(message["traits"])
        return traits

    def recommended(self, user_id: str) -> list[str] | None:
        return _recommended_trait(self.traits(user_id))

    def other_attributes(self, user_id: str) -> dict[str, list[str]]:
        return _other_traits(self.traits(user_id))


def pinpoint_client() -> Any:
    return boto3.client(
        "pinpoint", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


class PinpointHarness:
    """Pinpoint's endpoints as state: GetUserEndpoints answers from it, UpdateEndpointsBatch writes the
    User object it is given (what the sink merges is what survives). One worker keeps the call order
    deterministic for the Stubber; concurrency has its own test with a thread-safe fake."""

    def __init__(self) -> None:
        self.client = pinpoint_client()
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.endpoints: dict[str, dict[str, dict[str, list[str]]]] = {}  # user -> endpoint -> attributes
        self.batches: list[list[dict[str, Any]]] = []
        self.client.meta.events.register(
            "before-parameter-build.pinpoint.UpdateEndpointsBatch", self._apply_update
        )
        self.sink: RecommendationSink = PinpointEndpointSink(self.client, APP_ID, max_workers=1)

    def given_user(self, user_id: str, other_attributes: dict[str, list[str]], *, endpoints: int = 1) -> None:
        self.endpoints[user_id] = {f"{user_id}-ep{n}": dict(other_attributes) for n in range(endpoints)}

    def _apply_update(self, params: dict[str, Any], **_: Any) -> None:
        items = params["EndpointBatchRequest"]["Item"]
        self.batches.append(items)
        for item in items:
            user = self.endpoints.setdefault(item["User"]["UserId"], {})
            user[item["Id"]] = {k: list(v) for k, v in item["User"]["UserAttributes"].items()}

    def expect_publish(self, recommendations: Sequence[Recommendation]) -> None:
        endpoint_count = 0
        for user in dict.fromkeys(r.user_id for r in recommendations if r.user_id):
            expected = {"ApplicationId": APP_ID, "UserId": user}
            if user not in self.endpoints:
                self.stubber.add_client_error(
                    "get_user_endpoints", "NotFoundException", http_status_code=404, expected_params=expected
                )
                continue
            items = [
                {"Id": endpoint, "User": {"UserId": user, "UserAttributes": attributes}}
                for endpoint, attributes in self.endpoints[user].items()
            ]
            endpoint_count += len(items)
            self.stubber.add_response("get_user_endpoints", {"EndpointsResponse": {"Item": items}}, expected)
        for _ in range(-(-endpoint_count // PINPOINT_ENDPOINTS_PER_BATCH)):
            self.stubber.add_response(
                "update_endpoints_batch", {"MessageBody": {"Message": "Accepted", "RequestID": "req-1"}}
            )

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        self.expect_publish(recommendations)
        report = self.sink.publish(recommendations)
        self.stubber.assert_no_pending_responses()
        return report

    def recommended(self, user_id: str) -> list[str] | None:
        return _agreed_value(self.endpoints.get(user_id, {}))

    def other_attributes(self, user_id: str) -> dict[str, list[str]]:
        return _other_attributes(self.endpoints.get(user_id, {}))


@pytest.fixture(params=["local-personas", "local-pinpoint", "segment-personas", "aws-pinpoint"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SinkHarness]:
    if request.param.startswith("local"):
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield (
            LocalPersonasHarness(store) if request.param == "local-personas" else LocalPinpointHarness(store)
        )
        store.close()
    elif request.param == "segment-personas":
        with HttpReceiver() as receiver:
            yield SegmentHarness(receiver)
    else:
        yield PinpointHarness()


def test_the_sink_has_its_stable_name(harness: SinkHarness) -> None:
    assert harness.sink.name in ("personas", "pinpoint")


def test_publish_writes_each_users_list_in_rank_order(harness: SinkHarness) -> None:
    harness.given_user("alice", {})
    harness.given_user("bob", {})
    report = harness.publish([rec("alice", "p3", "p1", "p2"), rec("bob", "p9")])
    assert report.ok
    assert harness.recommended("alice") == ["p3", "p1", "p2"]
    assert harness.recommended("bob") == ["p9"]


def test_republishing_is_idempotent(harness: SinkHarness) -> None:
    harness.given_user("alice", {})
    lists = [rec("alice", "p3", "p1")]
    assert harness.publish(lists).ok
    assert harness.publish(lists).ok
    assert harness.recommended("alice") == ["p3", "p1"]


def test_a_fresh_list_replaces_the_old_one(harness: SinkHarness) -> None:
    harness.given_user("alice", {})
    assert harness.publish([rec("alice", "p1", "p2", "p3")]).ok
    assert harness.publish([rec("alice", "p7", cause="evt-2")]).ok
    assert harness.recommended("alice") == ["p7"]


def test_other_attributes_survive(harness: SinkHarness) -> None:
    harness.given_user("alice", {"tier": ["gold"], "favourite_colours": ["red", "blue"]})
    assert harness.publish([rec("alice", "p1")]).ok
    assert harness.other_attributes("alice") == {"tier": ["gold"], "favourite_colours": ["red", "blue"]}
    assert harness.recommended("alice") == ["p1"]


def test_nothing_to_publish_is_success(harness: SinkHarness) -> None:
    assert harness.publish([]).ok
    assert harness.recommended("alice") is None


def test_an_emptied_list_is_written_as_empty(harness: SinkHarness) -> None:
    harness.given_user("alice", {})
    assert harness.publish([rec("alice", "p1")]).ok
    assert harness.publish([rec("alice", cause="evt-2")]).ok
    assert harness.recommended("alice") == []


def test_a_list_without_a_user_fails_alone(harness: SinkHarness) -> None:
    harness.given_user("alice", {})
    report = harness.publish([rec("", "p1"), rec("alice", "p2")])
    assert set(report.failed) == {""}
    assert isinstance(report.failed[""], PermanentError)
    assert report.failed[""].code == "NoUserId"  # one helper for every sink: destinations/sink_input.py
    assert harness.recommended("alice") == ["p2"]


@pytest.mark.parametrize("harness", ["local-pinpoint", "aws-pinpoint"], indirect=True)
def test_pinpoint_keeps_to_its_attribute_limits(harness: SinkHarness) -> None:
    harness.given_user("alice", {})
    too_long = "x" * 101
    items = [too_long, *(f"p{n}" for n in range(60))]
    assert harness.publish([rec("alice", *items)]).ok
    assert harness.recommended("alice") == [f"p{n}" for n in range(PINPOINT_ATTRIBUTE_MAX_VALUES)]
