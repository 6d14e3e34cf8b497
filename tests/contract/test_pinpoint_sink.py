"""Pinpoint sink specifics the shared contract cannot express: batching across users, per-user failures,
concurrent lookups."""

from __future__ import annotations

from typing import Any

from destinations.aws.pinpoint import PinpointEndpointSink
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.contract.test_recommendation_sinks import APP_ID, PinpointHarness, rec


def test_endpoints_are_batched_across_users_at_most_100_per_call() -> None:
    cloud = PinpointHarness()
    for n in range(25):
        cloud.given_user(f"user-{n}", {}, endpoints=10)  # 250 endpoints
    report = cloud.publish([rec(f"user-{n}", "p1") for n in range(25)])
    assert report.ok
    assert [len(batch) for batch in cloud.batches] == [100, 100, 50]
    assert all(cloud.recommended(f"user-{n}") == ["p1"] for n in range(25))


def test_a_user_without_endpoints_is_not_a_failure() -> None:
    cloud = PinpointHarness()
    cloud.given_user("alice", {})
    report = cloud.publish([rec("alice", "p1"), rec("ghost", "p2")])
    assert report.ok
    assert cloud.recommended("ghost") is None
    assert [item["User"]["UserId"] for item in cloud.batches[0]] == ["alice"]


def test_a_failed_lookup_fails_only_that_user() -> None:
    cloud = PinpointHarness()
    stubber = cloud.stubber
    stubber.add_client_error("get_user_endpoints", "TooManyRequestsException", http_status_code=429)
    stubber.add_response("get_user_endpoints", {"EndpointsResponse": {"Item": [{"Id": "bob-ep0"}]}})
    stubber.add_client_error("get_user_endpoints", "ForbiddenException", http_status_code=403)
    stubber.add_response("update_endpoints_batch", {"MessageBody": {"Message": "Accepted"}})
    report = cloud.sink.publish([rec("alice", "p1"), rec("bob", "p2"), rec("carol", "p3")])
    stubber.assert_no_pending_responses()
    assert set(report.failed) == {"alice", "carol"}
    assert report.failed["alice"].retryable
    assert not report.failed["carol"].retryable
    assert cloud.batches == [
        [{"Id": "bob-ep0", "User": {"UserId": "bob", "UserAttributes": {"recommended_products": ["p2"]}}}]
    ]


def test_a_failed_batch_fails_every_user_in_it_and_only_them() -> None:
    cloud = PinpointHarness()
    for n, endpoints in enumerate((40, 50, 50, 50)):  # user-2 straddles both batches (endpoints 90..139)
        cloud.given_user(f"user-{n}", {}, endpoints=endpoints)
    recommendations = [rec(f"user-{n}", "p1") for n in range(4)]
    for n in range(4):
        items = [{"Id": endpoint} for endpoint in cloud.endpoints[f"user-{n}"]]
        cloud.stubber.add_response("get_user_endpoints", {"EndpointsResponse": {"Item": items}})
    cloud.stubber.add_response("update_endpoints_batch", {"MessageBody": {"Message": "Accepted"}})
    cloud.stubber.add_client_error("update_endpoints_batch", "BadRequestException", http_status_code=400)
    report = cloud.sink.publish(recommendations)
    cloud.stubber.assert_no_pending_responses()
    assert [len(batch) for batch in cloud.batches] == [100, 90]
    assert set(report.failed) == {"user-2", "user-3"}
    assert report.failed["user-2"].code == "BadRequestException"
    assert not report.failed["user-2"].retryable


class FakePinpoint:
    """Thread-safe stand-in for the concurrency test (a Stubber answers in call order, not per user)."""

    def __init__(self) -> None:
        self.looked_up: list[str] = []
        self.items: list[dict[str, Any]] = []

    def get_user_endpoints(self, ApplicationId: str, UserId: str) -> dict[str, Any]:  # noqa: N803
        self.looked_up.append(UserId)
        return {
            "EndpointsResponse": {
                "Item": [{"Id": f"{UserId}-ep", "User": {"UserAttributes": {"n": [UserId]}}}]
            }
        }

    def update_endpoints_batch(
        self, ApplicationId: str, EndpointBatchRequest: dict[str, Any]
    ) -> dict[str, Any]:  # noqa: N803
        self.items.extend(EndpointBatchRequest["Item"])
        return {"MessageBody": {}}


def test_lookups_run_concurrently_and_each_user_gets_their_own_list() -> None:
    fake = FakePinpoint()
    sink = PinpointEndpointSink(fake, APP_ID, max_workers=8)
    report = sink.publish([rec(f"user-{n}", f"p{n}") for n in range(60)])
    assert report.ok
    assert sorted(fake.looked_up) == sorted(f"user-{n}" for n in range(60))
    by_endpoint = {item["Id"]: item["User"] for item in fake.items}
    assert len(by_endpoint) == 60
    for n in range(60):
        user = by_endpoint[f"user-{n}-ep"]
        assert user == {
            "UserId": f"user-{n}",
            "UserAttributes": {"n": [f"user-{n}"], RECOMMENDED_PRODUCTS: [f"p{n}"]},
        }
