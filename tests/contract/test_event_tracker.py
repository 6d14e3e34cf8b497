"""EventTracker contract: the local store and Amazon Personalize (PutEvents, stubbed) behave alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from botocore.stub import Stubber

from destinations.aws.personalize_events import PersonalizeEventTracker
from destinations.local import LocalEventTracker, LocalRecommender, LocalStore
from destinations.ports import EventTracker
from schemas.errors import PermanentError, RetryableError
from schemas.interaction import EventBatch, Interaction

TRACKING_ID = "tracking-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class TrackerHarness(Protocol):
    keeps_each_event_once: bool

    tracker: EventTracker

    def track(self, batch: EventBatch) -> None:
        """``tracker.put_events`` with whatever the backend needs to accept it."""

    def recorded(self, user_id: str) -> list[Interaction]:
        """What the backend keeps for the user, once per event id, in arrival order."""


class LocalHarness:
    keeps_each_event_once = True  # the store's event ids are unique

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.tracker: EventTracker = LocalEventTracker(store, LocalRecommender(store))

    def track(self, batch: EventBatch) -> None:
        self.tracker.put_events(batch)

    def recorded(self, user_id: str) -> list[Interaction]:
        return self.store.interactions_for(user_id)


class PersonalizeHarness:
    """A real botocore client (parameter validation, serialization) answered by a Stubber. ``recorded`` is
    every event of every PutEvents call as sent, repeats included: Personalize drops repeated event ids
    from training, so what the adapter must get right is sending the same id again, which the contract
    asserts on these raw calls."""

    keeps_each_event_once = False  # the wire carries every delivery; the service deduplicates

    def __init__(self) -> None:
        self.client = boto3.client(
            "personalize-events",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.calls: list[dict[str, Any]] = []
        self.client.meta.events.register(
            "before-parameter-build.personalize-events.PutEvents",
            lambda params, **_: self.calls.append(params),
        )
        self.tracker: EventTracker = PersonalizeEventTracker(self.client, TRACKING_ID)

    def track(self, batch: EventBatch) -> None:
        self.stubber.add_response("put_events", {})
        self.tracker.put_events(batch)
        self.stubber.assert_no_pending_responses()

    def recorded(self, user_id: str) -> list[Interaction]:
        return [
            _interaction(call, event)
            for call in self.calls
            if call.get("userId") == user_id
            for event in call["eventList"]
        ]


def _interaction(call: dict[str, Any], event: dict[str, Any]) -> Interaction:
    return Interaction(
        event_id=event["eventId"],
        event_type=event["eventType"],
        session_id=call["sessionId"],
        sent_at=event["sentAt"],
        user_id=call.get("userId"),
        item_id=event.get("itemId"),
        event_value=event.get("eventValue"),
        properties=event.get("properties"),
        recommendation_id=event.get("recommendationId"),
        impression=tuple(event.get("impression", ())),
    )


@pytest.fixture(params=["local", "personalize"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrackerHarness]:
    if request.param == "local":
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield LocalHarness(store)
        store.close()
    else:
        yield PersonalizeHarness()


def interaction(n: int, *, user: str = "u1", session: str = "s1", **fields: Any) -> Interaction:
    defaults: dict[str, Any] = {"event_type": "Product Viewed", "item_id": f"item-{n}"}
    defaults.update(fields)
    return Interaction(
        event_id=f"{user}-evt-{n}",
        session_id=session,
        sent_at=T0 + timedelta(seconds=n),
        user_id=user,
        **defaults,
    )


def batch_of(*interactions: Interaction) -> EventBatch:
    first = interactions[0]
    return EventBatch(first.session_id, first.user_id, interactions)


def test_ten_events_are_recorded_with_their_event_ids_in_order(harness: TrackerHarness) -> None:
    events = tuple(interaction(n) for n in range(10))
    harness.track(batch_of(*events))
    assert [it.event_id for it in harness.recorded("u1")] == [it.event_id for it in events]


def test_every_field_survives_the_round_trip(harness: TrackerHarness) -> None:
    full = interaction(
        1,
        event_type="Product Clicked",
        event_value=19.99,
        properties='{"discount": "0.10"}',
        recommendation_id="RID-123",
        impression=("item-1", "item-2", "item-3"),
    )
    bare = interaction(2, item_id=None, event_type="Signed Up")
    harness.track(batch_of(full, bare))
    assert harness.recorded("u1") == [full, bare]


def test_a_redelivered_batch_is_recorded_once(harness: TrackerHarness) -> None:
    events = tuple(interaction(n) for n in range(3))
    harness.track(batch_of(*events))
    harness.track(batch_of(*events))
    harness.track(batch_of(events[2], interaction(3)))
    recorded = [it.event_id for it in harness.recorded("u1")]
    if harness.keeps_each_event_once:
        assert recorded == ["u1-evt-0", "u1-evt-1", "u1-evt-2", "u1-evt-3"]
    else:
        # Every delivery goes out whole and with the same event ids, which Personalize drops as repeats.
        assert recorded == ["u1-evt-0", "u1-evt-1", "u1-evt-2"] * 2 + ["u1-evt-2", "u1-evt-3"]


def test_users_are_kept_apart(harness: TrackerHarness) -> None:
    harness.track(batch_of(interaction(1, user="alice", session="sa")))
    harness.track(batch_of(interaction(2, user="bob", session="sb")))
    assert [it.event_id for it in harness.recorded("alice")] == ["alice-evt-1"]
    assert [it.event_id for it in harness.recorded("bob")] == ["bob-evt-2"]
    assert harness.recorded("carol") == []


# -- Personalize specifics: the wire shape and error translation -----------------------------------------


def test_put_events_sends_the_tracking_id_session_and_omits_empty_fields() -> None:
    cloud = PersonalizeHarness()
    cloud.track(batch_of(interaction(1, item_id=None, event_type="Signed Up")))
    (call,) = cloud.calls
    assert call == {
        "trackingId": TRACKING_ID,
        "userId": "u1",
        "sessionId": "s1",
        "eventList": [{"eventId": "u1-evt-1", "eventType": "Signed Up", "sentAt": T0 + timedelta(seconds=1)}],
    }


def test_an_anonymous_session_is_sent_without_a_user_id() -> None:
    cloud = PersonalizeHarness()
    anonymous = Interaction("anon-1", "Product Viewed", "sess-9", T0, item_id="item-1")
    cloud.track(EventBatch("sess-9", None, (anonymous,)))
    assert "userId" not in cloud.calls[0]
    assert cloud.calls[0]["sessionId"] == "sess-9"


@pytest.mark.parametrize("count", [0, 11])
def test_a_batch_outside_one_to_ten_events_is_a_caller_bug(harness: TrackerHarness, count: int) -> None:
    events = tuple(interaction(n) for n in range(count))
    with pytest.raises(ValueError, match="1..10"):
        harness.tracker.put_events(EventBatch("s1", "u1", events))
    assert harness.recorded("u1") == []


def test_throttling_is_retryable() -> None:
    cloud = PersonalizeHarness()
    cloud.stubber.add_client_error(
        "put_events", service_error_code="ThrottlingException", http_status_code=400
    )
    with pytest.raises(RetryableError) as caught:
        cloud.tracker.put_events(batch_of(interaction(1)))
    assert (caught.value.service, caught.value.code) == ("personalize-events", "ThrottlingException")


def test_invalid_input_is_permanent_and_names_no_user_data() -> None:
    cloud = PersonalizeHarness()
    cloud.stubber.add_client_error(
        "put_events",
        service_error_code="InvalidInputException",
        service_message="Value 'jane@example.com' at 'userId' failed",
        http_status_code=400,
    )
    with pytest.raises(PermanentError) as caught:
        cloud.tracker.put_events(batch_of(interaction(1, user="jane@example.com")))
    assert caught.value.code == "InvalidInputException"
    assert "jane@example.com" not in str(caught.value)
