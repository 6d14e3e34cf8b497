"""Customer Profiles sink: the shared RecommendationSink contract (the same tests the Personas and Pinpoint
sinks pass, imported below), plus what is particular to profiles: search keys, creation, limits.

Customer Profiles through a real botocore client answered by a Stubber that keeps the domain's profiles as
state: SearchProfiles answers from it, CreateProfile/AddProfileKey/UpdateProfile change it the way the
service does (UpdateProfile changes only the attributes it is given).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from destinations.aws.customer_profiles import OWNER_ATTRIBUTE, CustomerProfilesSink
from destinations.engagement_content import DetailSpec, is_engagement_attribute
from destinations.ports import RecommendationSink
from schemas.delivery import DeliveryReport
from schemas.limits import CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH, CUSTOMER_PROFILES_SEARCH_MAX_RESULTS
from schemas.recommendation import Recommendation
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.contract import test_recommendation_sinks as shared
from tests.contract.test_recommendation_sinks import rec

DOMAIN = "pue-domain"

# The shared contract, run here against the Customer Profiles harness (pytest resolves ``harness`` below).
test_publish_writes_each_users_list_in_rank_order = shared.test_publish_writes_each_users_list_in_rank_order
test_republishing_is_idempotent = shared.test_republishing_is_idempotent
test_a_fresh_list_replaces_the_old_one = shared.test_a_fresh_list_replaces_the_old_one
test_other_attributes_survive = shared.test_other_attributes_survive
test_nothing_to_publish_is_success = shared.test_nothing_to_publish_is_success
test_an_emptied_list_is_written_as_empty = shared.test_an_emptied_list_is_written_as_empty
test_a_list_without_a_user_fails_alone = shared.test_a_list_without_a_user_fails_alone


class DictCatalog:
    def __init__(self, items: dict[str, dict[str, object]]) -> None:
        self.data = items

    def items(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        return {i: self.data[i] for i in item_ids if i in self.data}


class ProfilesHarness:
    """One worker keeps the call order deterministic for the Stubber."""

    def __init__(
        self, *, key: str = "_account", create: bool = False, catalog: DictCatalog | None = None
    ) -> None:
        self.client = boto3.client(
            "customer-profiles", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.key, self.create = key, create
        self.profiles: dict[
            str, dict[str, Any]
        ] = {}  # profile id -> {"keys": [user ids], "attributes": {...}}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._new_ids: deque[str] = deque()
        self.known: dict[str, list[str]] = {}  # user -> profile ids the sink has cached (it searched once)
        events = self.client.meta.events
        for operation in ("UpdateProfile", "CreateProfile", "AddProfileKey", "SearchProfiles"):
            events.register(f"before-parameter-build.customer-profiles.{operation}", self._apply)
        self.sink: RecommendationSink = CustomerProfilesSink(
            self.client,
            DOMAIN,
            key_name=key,
            create_missing=create,
            catalog=catalog,
            details=DetailSpec(ranks=2, fields={"name": "NAME"}),
            max_workers=1,
        )

    def given_user(self, user_id: str, other_attributes: dict[str, list[str]], *, profiles: int = 1) -> None:
        for n in range(profiles):
            attributes = {k: ",".join(v) for k, v in other_attributes.items()}
            self.profiles[f"{user_id}-p{n}"] = {"keys": [user_id], "attributes": attributes}

    def _apply(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))
        if model.name == "UpdateProfile":
            self.profiles[params["ProfileId"]]["attributes"].update(params["Attributes"])
        elif model.name == "CreateProfile":
            keys = [params["AccountNumber"]] if "AccountNumber" in params else []
            self.profiles[self._new_ids.popleft()] = {"keys": keys, "attributes": dict(params["Attributes"])}
        elif model.name == "AddProfileKey":
            self.profiles[params["ProfileId"]]["keys"].extend(params["Values"])

    def _found(self, user_id: str) -> list[str]:
        return [pid for pid, profile in self.profiles.items() if user_id in profile["keys"]]

    def expect_publish(self, recommendations: Sequence[Recommendation]) -> None:
        """Queue the calls the sink must make: SearchProfiles only for a user it has not seen in this
        container (its profile ids are cached), then UpdateProfile per profile, or the creation calls."""
        for user in dict.fromkeys(r.user_id for r in recommendations if r.user_id):
            if user in self.known:
                for profile_id in self.known[user]:
                    self.stubber.add_response("update_profile", {"ProfileId": profile_id})
                continue
            found = self._found(user)
            self.stubber.add_response(
                "search_profiles", {"Items": [{"ProfileId": p} for p in found]}, self.search(self.key, user)
            )
            self.known[user] = found
            if not found and self.create:
                new_id = f"{user}-created"
                self._new_ids.append(new_id)
                if self.key != "_account":  # a retried creation first looks for the profile it made
                    self.stubber.add_response("search_profiles", {"Items": []}, self.search("_account", user))
                self.stubber.add_response("create_profile", {"ProfileId": new_id})
                if self.key != "_account":
                    self.stubber.add_response("add_profile_key", {"KeyName": self.key, "Values": [user]})
                self.known[user] = [new_id]
            for profile_id in found:
                self.stubber.add_response("update_profile", {"ProfileId": profile_id})

    @staticmethod
    def search(key: str, user: str) -> dict[str, Any]:
        return {
            "DomainName": DOMAIN,
            "KeyName": key,
            "Values": [user],
            "MaxResults": CUSTOMER_PROFILES_SEARCH_MAX_RESULTS,
        }

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        self.expect_publish(recommendations)
        report = self.sink.publish(recommendations)
        self.stubber.assert_no_pending_responses()
        return report

    def attributes(self, user_id: str) -> list[dict[str, str]]:
        return [self.profiles[pid]["attributes"] for pid in self._found(user_id)]

    def recommended(self, user_id: str) -> list[str] | None:
        values = [a.get(RECOMMENDED_PRODUCTS) for a in self.attributes(user_id)]
        if not values or values[0] is None:
            return None
        assert all(value == values[0] for value in values), f"profiles disagree: {values}"
        return values[0].split(",") if values[0] else []

    def other_attributes(self, user_id: str) -> dict[str, list[str]]:
        merged: dict[str, list[str]] = {}
        for attributes in self.attributes(user_id):
            merged.update({k: v.split(",") for k, v in attributes.items() if not is_engagement_attribute(k)})
        return merged


@pytest.fixture
def harness() -> Iterator[ProfilesHarness]:
    yield ProfilesHarness()


def test_the_sink_is_named_customer_profiles(harness: ProfilesHarness) -> None:
    assert harness.sink.name == "customer-profiles"


def test_a_user_without_a_profile_is_not_a_failure_and_nothing_is_created(harness: ProfilesHarness) -> None:
    assert harness.publish([rec("ghost", "p1")]).ok
    assert harness.profiles == {}
    assert [name for name, _ in harness.calls] == ["SearchProfiles"]


def test_a_missing_profile_is_created_with_the_account_number_when_configured() -> None:
    cloud = ProfilesHarness(create=True)
    assert cloud.publish([rec("alice", "p1", "p2")]).ok
    created = [params for name, params in cloud.calls if name == "CreateProfile"]
    assert created[0]["AccountNumber"] == "alice" and created[0]["DomainName"] == DOMAIN
    assert cloud.recommended("alice") == ["p1", "p2"]
    assert cloud.publish([rec("alice", "p3", cause="evt-2")]).ok  # found by the key now: updated, not created
    assert cloud.recommended("alice") == ["p3"] and len(cloud.profiles) == 1


def test_another_search_key_is_attached_to_a_created_profile() -> None:
    cloud = ProfilesHarness(key="_segmentUserId", create=True)
    assert cloud.publish([rec("alice", "p1")]).ok
    [(_, created)] = [(n, p) for n, p in cloud.calls if n == "CreateProfile"]
    # The account number and the owner attribute let a retried creation find this profile (below).
    assert created["AccountNumber"] == "alice" and created["Attributes"][OWNER_ATTRIBUTE] == "alice"
    [(_, added)] = [(n, p) for n, p in cloud.calls if n == "AddProfileKey"]
    assert added == {
        "DomainName": DOMAIN,
        "ProfileId": "alice-created",
        "KeyName": "_segmentUserId",
        "Values": ["alice"],
    }
    assert cloud.recommended("alice") == ["p1"]


def test_every_profile_the_key_finds_is_updated(harness: ProfilesHarness) -> None:
    harness.given_user("alice", {}, profiles=3)
    assert harness.publish([rec("alice", "p1")]).ok
    assert [a[RECOMMENDED_PRODUCTS] for a in harness.attributes("alice")] == ["p1", "p1", "p1"]


def test_a_failure_fails_only_that_user(harness: ProfilesHarness) -> None:
    harness.given_user("bob", {})
    harness.given_user("carol", {})
    stubber = harness.stubber
    stubber.add_client_error("search_profiles", "ThrottlingException", http_status_code=429)
    stubber.add_response("search_profiles", {"Items": [{"ProfileId": "bob-p0"}]})
    stubber.add_response("update_profile", {"ProfileId": "bob-p0"})
    stubber.add_response("search_profiles", {"Items": [{"ProfileId": "carol-p0"}]})
    stubber.add_client_error("update_profile", "BadRequestException", http_status_code=400)
    report = harness.sink.publish([rec("alice", "p1"), rec("bob", "p2"), rec("carol", "p3")])
    stubber.assert_no_pending_responses()
    assert set(report.failed) == {"alice", "carol"}
    assert report.failed["alice"].retryable and report.failed["alice"].service == "customer-profiles"
    assert not report.failed["carol"].retryable and report.failed["carol"].code == "BadRequestException"
    assert harness.recommended("bob") == ["p2"]


def test_values_keep_to_the_255_character_limit_and_stale_details_are_cleared() -> None:
    catalog = DictCatalog({"p1": {"NAME": "One"}, "p2": {"NAME": "Two"}, "p3": {"NAME": "n" * 256}})
    cloud = ProfilesHarness(catalog=catalog)
    cloud.given_user("alice", {})
    ids = [f"item-{n:04d}" for n in range(40)]  # 40 x 9 characters + commas > 255
    assert cloud.publish([rec("alice", "p1", "p2", *ids)]).ok
    [attributes] = cloud.attributes("alice")
    assert len(attributes[RECOMMENDED_PRODUCTS]) <= CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH
    assert attributes[RECOMMENDED_PRODUCTS].startswith("p1,p2,item-0000,")
    assert attributes["recommended_item_2_name"] == "Two"
    assert cloud.publish([rec("alice", "p3", "p1", cause="evt-2")]).ok
    [attributes] = cloud.attributes("alice")
    assert attributes["recommended_item_1_id"] == "p3"
    assert attributes["recommended_item_1_name"] == ""  # 256 characters: left out
    assert (attributes["recommended_item_2_id"], attributes["recommended_item_2_name"]) == ("p1", "One")
    assert all(len(v) <= CUSTOMER_PROFILES_ATTRIBUTE_VALUE_MAX_LENGTH for v in attributes.values())
