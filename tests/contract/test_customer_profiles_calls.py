"""Customer Profiles at one call per user in steady state, and creation without duplicates on redelivery.

The sink talks to a real botocore client answered by a Stubber: every response is queued in the order the
sink must call, so an extra SearchProfiles or a second CreateProfile fails the test. The raw calls are
recorded as botocore builds them (``before-parameter-build``) and asserted on.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from destinations.aws.customer_profiles import OWNER_ATTRIBUTE, CustomerProfilesSink
from destinations.aws.profile_id_cache import ProfileIdCache
from schemas.limits import CUSTOMER_PROFILES_SEARCH_MAX_RESULTS
from schemas.recommendation import Recommendation
from tests.contract.test_recommendation_sinks import rec

DOMAIN = "pue-domain"


class Recorded:
    """A customer-profiles client with a Stubber and the list of raw calls made through it."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "customer-profiles", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("before-parameter-build.customer-profiles.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def search(self, key: str, user: str, found: list[dict[str, Any]]) -> None:
        expected = {
            "DomainName": DOMAIN,
            "KeyName": key,
            "Values": [user],
            "MaxResults": CUSTOMER_PROFILES_SEARCH_MAX_RESULTS,
        }
        self.stubber.add_response("search_profiles", {"Items": found}, expected)

    def update(self, profile_id: str) -> None:
        self.stubber.add_response("update_profile", {"ProfileId": profile_id})

    def publish(self, sink: CustomerProfilesSink, recommendations: list[Recommendation]) -> set[str]:
        report = sink.publish(recommendations)
        self.stubber.assert_no_pending_responses()
        return set(report.failed)


def sink(cloud: Recorded, **options: Any) -> CustomerProfilesSink:
    return CustomerProfilesSink(cloud.client, DOMAIN, max_workers=1, **options)


def warm(cloud: Recorded, profile_id: str) -> CustomerProfilesSink:
    """A sink that has found (and cached) alice's profile ``profile_id`` in a first batch."""
    profiles = sink(cloud)
    cloud.search("_account", "alice", [{"ProfileId": profile_id}])
    cloud.update(profile_id)
    assert cloud.publish(profiles, [rec("alice", "p1")]) == set()
    return profiles


def test_steady_state_is_one_update_per_user_and_one_search_per_user_per_container() -> None:
    cloud = Recorded()
    profiles = sink(cloud)
    users = ["alice", "bob", "carol"]
    for user in users:
        cloud.search("_account", user, [{"ProfileId": f"{user}-p"}])
        cloud.update(f"{user}-p")
    assert cloud.publish(profiles, [rec(u, "p1") for u in users]) == set()
    for batch in range(1, 5):
        for user in users:
            cloud.update(f"{user}-p")
        assert cloud.publish(profiles, [rec(u, f"p{batch}", cause=f"evt-{batch}") for u in users]) == set()
    names = cloud.names()
    assert names.count("SearchProfiles") == 3  # once per user, in the first batch only
    assert names[6:] == ["UpdateProfile"] * 12  # then one call per refreshed user
    updated = [params["ProfileId"] for name, params in cloud.calls[6:]]
    assert updated == [f"{u}-p" for u in users] * 4


def test_a_profile_gone_since_it_was_cached_is_searched_again_and_written() -> None:
    cloud = Recorded()
    profiles = warm(cloud, "old")
    # Merged into another profile: the cached id answers not-found, the search names the survivor.
    cloud.stubber.add_client_error("update_profile", "ResourceNotFoundException", http_status_code=404)
    cloud.search("_account", "alice", [{"ProfileId": "merged"}])
    cloud.update("merged")
    assert cloud.publish(profiles, [rec("alice", "p2", cause="evt-2")]) == set()
    cloud.update("merged")  # cached again: no search
    assert cloud.publish(profiles, [rec("alice", "p3", cause="evt-3")]) == set()
    targets = [(n, p.get("ProfileId")) for n, p in cloud.calls if n == "UpdateProfile"]
    assert targets == [("UpdateProfile", i) for i in ("old", "old", "merged", "merged")]
    assert cloud.names().count("SearchProfiles") == 2


def test_a_failed_update_other_than_not_found_keeps_the_cache_and_fails_the_user() -> None:
    cloud = Recorded()
    profiles = warm(cloud, "a")
    cloud.stubber.add_client_error("update_profile", "ThrottlingException", http_status_code=429)
    assert cloud.publish(profiles, [rec("alice", "p2", cause="evt-2")]) == {"alice"}
    cloud.update("a")
    assert cloud.publish(profiles, [rec("alice", "p2", cause="evt-2")]) == set()
    assert cloud.names().count("SearchProfiles") == 1


def test_a_user_without_a_profile_is_searched_again_once_the_absence_is_stale() -> None:
    now = [0.0]
    cloud = Recorded()
    profiles = sink(cloud, cache=ProfileIdCache(absent_seconds=300, clock=lambda: now[0]))
    cloud.search("_account", "ghost", [])
    assert cloud.publish(profiles, [rec("ghost", "p1")]) == set()
    now[0] = 299.0
    assert cloud.publish(profiles, [rec("ghost", "p2", cause="evt-2")]) == set()  # no call at all
    now[0] = 300.0
    cloud.search("_account", "ghost", [{"ProfileId": "g"}])  # created meanwhile by another system
    cloud.update("g")
    assert cloud.publish(profiles, [rec("ghost", "p3", cause="evt-3")]) == set()
    assert cloud.names() == ["SearchProfiles", "SearchProfiles", "UpdateProfile"]


def _failed_creation(cloud: Recorded, profiles: CustomerProfilesSink) -> None:
    """First delivery: CreateProfile succeeds, AddProfileKey fails; the user is reported for retry."""
    cloud.search("_segmentUserId", "alice", [])
    cloud.search("_account", "alice", [])
    cloud.stubber.add_response("create_profile", {"ProfileId": "created-1"})
    cloud.stubber.add_client_error("add_profile_key", "InternalServerException", http_status_code=500)
    assert cloud.publish(profiles, [rec("alice", "p1")]) == {"alice"}


def _redelivery_adopts(cloud: Recorded, profiles: CustomerProfilesSink) -> None:
    """Redelivery: the key still finds nothing, the account number finds pue's profile: adopted, not
    created again."""
    cloud.search("_segmentUserId", "alice", [])
    mine = {"ProfileId": "created-1", "AccountNumber": "alice", "Attributes": {OWNER_ATTRIBUTE: "alice"}}
    cloud.search("_account", "alice", [mine])
    cloud.update("created-1")
    cloud.stubber.add_response("add_profile_key", {"KeyName": "_segmentUserId", "Values": ["alice"]})
    assert cloud.publish(profiles, [rec("alice", "p1")]) == set()


def test_redelivery_after_a_failed_add_profile_key_leaves_one_profile_in_the_same_container() -> None:
    cloud = Recorded()
    profiles = sink(cloud, key_name="_segmentUserId", create_missing=True)
    _failed_creation(cloud, profiles)
    _redelivery_adopts(cloud, profiles)
    assert cloud.names().count("CreateProfile") == 1
    keyed = [p["ProfileId"] for n, p in cloud.calls if n == "AddProfileKey"]
    assert keyed == ["created-1", "created-1"]
    cloud.update("created-1")  # and from then on, one call per refresh
    assert cloud.publish(profiles, [rec("alice", "p2", cause="evt-2")]) == set()
    assert cloud.names()[-1:] == ["UpdateProfile"] and cloud.names().count("SearchProfiles") == 4


def test_redelivery_to_a_new_container_leaves_one_profile() -> None:
    cloud = Recorded()
    _failed_creation(cloud, sink(cloud, key_name="_segmentUserId", create_missing=True))
    _redelivery_adopts(cloud, sink(cloud, key_name="_segmentUserId", create_missing=True))
    assert cloud.names().count("CreateProfile") == 1


def test_a_profile_whose_account_number_only_matches_is_not_adopted() -> None:
    cloud = Recorded()
    profiles = sink(cloud, key_name="_segmentUserId", create_missing=True)
    cloud.search("_segmentUserId", "42", [])
    stranger = {"ProfileId": "crm-42", "AccountNumber": "42", "Attributes": {}}
    cloud.search("_account", "42", [stranger])
    cloud.stubber.add_response("create_profile", {"ProfileId": "created-42"})
    cloud.stubber.add_response("add_profile_key", {"KeyName": "_segmentUserId", "Values": ["42"]})
    assert cloud.publish(profiles, [rec("42", "p1")]) == set()
    assert "crm-42" not in [p.get("ProfileId") for _, p in cloud.calls]
