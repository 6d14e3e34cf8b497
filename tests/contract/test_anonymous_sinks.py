"""Each sink's call shape for an anonymous visitor's list (PUE_REFRESH_ANONYMOUS), asserted on the raw calls:
Segment gets an identify with only an anonymousId; Customer Profiles finds, creates and (at login) adopts a
visitor's profile under its own key; the sinks that cannot hold such a list say so (``takes_anonymous``)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from destinations.aws.customer_profiles import (
    ANONYMOUS_OWNER_ATTRIBUTE,
    DEFAULT_ANONYMOUS_KEY_NAME,
    OWNER_ATTRIBUTE,
)
from destinations.aws.pinpoint import PinpointEndpointSink
from destinations.local import LocalStore
from destinations.local.sinks import LocalPersonasSink, LocalPinpointSink
from destinations.segment.personas import PersonasTraitSink
from schemas.recommendation import Recommendation
from schemas.traits import RECOMMENDED_PRODUCTS, deterministic_message_id
from tests.contract.test_customer_profiles_calls import DOMAIN, Recorded, sink
from tests.contract.test_recommendation_sinks import pinpoint_client, rec
from tests.support.http_receiver import HttpReceiver, Reply

WRITE_KEY = "wk-anonymous"
VISITOR = "anon-7f3c"


def visitor(anonymous_id: str, *items: str) -> Recommendation:
    return dataclasses.replace(rec(anonymous_id, *items), anonymous=True)


# -- Segment --------------------------------------------------------------------------------------------


def test_segment_identifies_a_visitor_by_its_anonymous_id_alone() -> None:
    with HttpReceiver() as receiver:
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish(
            [visitor(VISITOR, "p1", "p2"), rec("alice", "p3")]
        )
        sent = [m for r in receiver.requests_to("/v1/batch") for m in r.json()["batch"]]
    assert report.ok
    by_kind = {("anonymousId" in m, "userId" in m): m for m in sent}
    assert set(by_kind) == {(True, False), (False, True)}  # never both ids, never neither
    anonymous = by_kind[True, False]
    assert anonymous["type"] == "identify" and anonymous["anonymousId"] == VISITOR
    assert anonymous["traits"][RECOMMENDED_PRODUCTS] == ["p1", "p2"]
    assert by_kind[False, True]["userId"] == "alice"


def test_a_visitor_and_a_user_with_the_same_id_are_two_identifies_with_distinct_message_ids() -> None:
    same = "shared-id"
    with HttpReceiver() as receiver:
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish(
            [visitor(same, "p1"), rec(same, "p1")]
        )
        sent = [m for r in receiver.requests_to("/v1/batch") for m in r.json()["batch"]]
    assert report.ok and len(sent) == 2
    assert len({m["messageId"] for m in sent}) == 2
    # A user's message id is what it always was: redelivery across a deploy still dedupes.
    user_message = next(m for m in sent if "userId" in m)
    assert user_message["messageId"] == deterministic_message_id(rec(same, "p1"), "personas")


def test_a_visitors_failed_request_is_reported_under_its_key() -> None:
    with HttpReceiver() as receiver:
        receiver.script("/v1/batch", *[Reply(503)] * 3)
        report = PersonasTraitSink(WRITE_KEY, host=receiver.url).publish([visitor(VISITOR, "p1")])
    assert set(report.failed) == {visitor(VISITOR, "p1").key}
    assert report.failed[visitor(VISITOR, "p1").key].retryable


# -- Customer Profiles ----------------------------------------------------------------------------------


def test_customer_profiles_writes_a_visitor_found_under_the_anonymous_key() -> None:
    cloud = Recorded()
    profiles = sink(cloud)
    cloud.search(DEFAULT_ANONYMOUS_KEY_NAME, VISITOR, [{"ProfileId": "v-1"}])
    cloud.update("v-1")
    # A user whose id equals the anonymousId is someone else: searched under the users' key, cached apart.
    cloud.search("_account", VISITOR, [{"ProfileId": "u-1"}])
    cloud.update("u-1")
    assert cloud.publish(profiles, [visitor(VISITOR, "p1"), rec(VISITOR, "p2")]) == set()
    cloud.update("v-1")  # cached under the visitor's key: no second search
    assert cloud.publish(profiles, [visitor(VISITOR, "p3")]) == set()
    searches = [(p["KeyName"], p["Values"]) for n, p in cloud.calls if n == "SearchProfiles"]
    assert searches == [(DEFAULT_ANONYMOUS_KEY_NAME, [VISITOR]), ("_account", [VISITOR])]


def test_customer_profiles_creates_a_visitor_profile_without_an_account_number() -> None:
    cloud = Recorded()
    profiles = sink(cloud, create_missing=True)
    cloud.search(DEFAULT_ANONYMOUS_KEY_NAME, VISITOR, [])
    cloud.stubber.add_response("create_profile", {"ProfileId": "v-new"})
    cloud.stubber.add_response(
        "add_profile_key", {"KeyName": DEFAULT_ANONYMOUS_KEY_NAME, "Values": [VISITOR]}
    )
    assert cloud.publish(profiles, [visitor(VISITOR, "p1")]) == set()
    create = next(p for n, p in cloud.calls if n == "CreateProfile")
    assert "AccountNumber" not in create  # an account number is a user's
    assert create["Attributes"][ANONYMOUS_OWNER_ATTRIBUTE] == VISITOR
    assert OWNER_ATTRIBUTE not in create["Attributes"]
    key = next(p for n, p in cloud.calls if n == "AddProfileKey")
    assert (key["ProfileId"], key["KeyName"], key["Values"]) == (
        "v-new",
        DEFAULT_ANONYMOUS_KEY_NAME,
        [VISITOR],
    )


def test_a_visitor_profile_left_without_its_key_is_logged_with_its_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloud = Recorded()
    profiles = sink(cloud, create_missing=True)
    cloud.search(DEFAULT_ANONYMOUS_KEY_NAME, VISITOR, [])
    cloud.stubber.add_response("create_profile", {"ProfileId": "v-stray"})
    cloud.stubber.add_client_error("add_profile_key", "InternalServerException", http_status_code=500)
    with caplog.at_level(logging.WARNING, logger="pue.customer_profiles"):
        failed = cloud.publish(profiles, [visitor(VISITOR, "p1")])
    assert failed == {visitor(VISITOR, "p1").key}
    stray = [r for r in caplog.records if getattr(r, "fields", {}).get("profile_id") == "v-stray"]
    assert len(stray) == 1 and VISITOR not in stray[0].getMessage()


def test_a_visitor_who_logs_in_has_its_profile_adopted_not_duplicated() -> None:
    cloud = Recorded()
    profiles = sink(cloud, create_missing=True, adopt_visitors=True)
    cloud.search("_account", "alice", [])
    owned = {"ProfileId": "v-1", "Attributes": {ANONYMOUS_OWNER_ATTRIBUTE: VISITOR}}
    cloud.search(DEFAULT_ANONYMOUS_KEY_NAME, VISITOR, [owned])
    cloud.update("v-1")
    login = dataclasses.replace(rec("alice", "p1"), anonymous_ids=(VISITOR,))
    assert cloud.publish(profiles, [login]) == set()
    assert "CreateProfile" not in cloud.names()
    adopted = next(p for n, p in cloud.calls if n == "UpdateProfile")
    assert adopted["ProfileId"] == "v-1" and adopted["AccountNumber"] == "alice"
    assert adopted["Attributes"][OWNER_ATTRIBUTE] == "alice"
    cloud.update("v-1")  # the user is cached on the adopted profile
    assert cloud.publish(profiles, [rec("alice", "p2", cause="evt-2")]) == set()


def test_adoption_under_a_custom_user_key_adds_the_key() -> None:
    cloud = Recorded()
    profiles = sink(cloud, create_missing=True, adopt_visitors=True, key_name="_segmentUserId")
    cloud.search("_segmentUserId", "alice", [])
    cloud.search("_account", "alice", [])  # no orphan of an earlier attempt
    owned = {"ProfileId": "v-1", "Attributes": {ANONYMOUS_OWNER_ATTRIBUTE: VISITOR}}
    cloud.search(DEFAULT_ANONYMOUS_KEY_NAME, VISITOR, [owned])
    cloud.update("v-1")
    cloud.stubber.add_response("add_profile_key", {"KeyName": "_segmentUserId", "Values": ["alice"]})
    login = dataclasses.replace(rec("alice", "p1"), anonymous_ids=(VISITOR,))
    assert cloud.publish(profiles, [login]) == set()
    key = next(p for n, p in cloud.calls if n == "AddProfileKey")
    assert (key["ProfileId"], key["KeyName"], key["Values"]) == ("v-1", "_segmentUserId", ["alice"])


def test_a_profile_someone_else_keyed_on_the_visitor_is_not_adopted() -> None:
    cloud = Recorded()
    profiles = sink(cloud, create_missing=True, adopt_visitors=True)
    cloud.search("_account", "alice", [])
    cloud.search(DEFAULT_ANONYMOUS_KEY_NAME, VISITOR, [{"ProfileId": "theirs", "Attributes": {}}])
    cloud.stubber.add_response("create_profile", {"ProfileId": "alice-new"})
    login = dataclasses.replace(rec("alice", "p1"), anonymous_ids=(VISITOR,))
    assert cloud.publish(profiles, [login]) == set()
    assert [n for n in cloud.names() if n != "SearchProfiles"] == ["CreateProfile"]


def test_without_anonymous_refreshes_no_visitor_profile_is_looked_for() -> None:
    cloud = Recorded()
    profiles = sink(cloud, create_missing=True)  # adopt_visitors off: pue created no visitor profile
    cloud.search("_account", "alice", [])
    cloud.stubber.add_response("create_profile", {"ProfileId": "alice-new"})
    login = dataclasses.replace(rec("alice", "p1"), anonymous_ids=(VISITOR,))
    assert cloud.publish(profiles, [login]) == set()
    assert cloud.names() == ["SearchProfiles", "CreateProfile"]
    assert all(p.get("DomainName") == DOMAIN for _, p in cloud.calls)


# -- the sinks that cannot hold a visitor's list ---------------------------------------------------------


def test_pinpoint_its_messages_and_the_local_sinks_do_not_take_anonymous_lists(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "pue.sqlite3")
    try:
        declared = {
            "aws pinpoint": PinpointEndpointSink(pinpoint_client(), "app", max_workers=1).takes_anonymous,
            "local personas": LocalPersonasSink(store).takes_anonymous,
            "local pinpoint": LocalPinpointSink(store).takes_anonymous,
            "segment": PersonasTraitSink(WRITE_KEY, host="http://127.0.0.1:9").takes_anonymous,
        }
    finally:
        store.close()
    assert declared == {
        "aws pinpoint": False,
        "local personas": False,
        "local pinpoint": False,
        "segment": True,
    }
