"""The loopback cloud fake the benchmarks and reliability tests rely on: pue's real clients against it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from consumers.bootstrap.stream import build_pipeline
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from destinations.aws.clients import make_client
from destinations.aws.personalize_events import PersonalizeEventTracker
from destinations.aws.personalize_runtime import PersonalizeRecommender
from destinations.aws.pinpoint import PinpointEndpointSink
from destinations.aws.sqs_dead_letters import SqsDeadLetterSink
from destinations.segment.personas import PersonasTraitSink
from destinations.segment.profile_api import ProfileApiPurchaseHistory
from schemas.dead_letter import DeadLetter
from schemas.errors import PueError, RetryableError
from schemas.interaction import EventBatch, Interaction
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem
from tests import factories
from tests.support.cloud_fake import CAMPAIGN_ARN, CallType, CloudFake, Fault, FaultRates
from tests.support.cloud_fake_faults import FaultPlan

SENT_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudFake]:
    with CloudFake() as running:
        for name, value in running.env().items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        yield running


def client(service: str, fake: CloudFake, **options: Any) -> Any:
    return make_client(service, endpoint_url=fake.url, region="us-east-1", max_attempts=1, **options)


def batch(user: str = "u1", *event_ids: str) -> EventBatch:
    interactions = tuple(
        Interaction(
            event_id=e,
            event_type="Product Viewed",
            session_id="s1",
            sent_at=SENT_AT,
            user_id=user,
            item_id="i1",
        )
        for e in event_ids or ("e1",)
    )
    return EventBatch(session_id="s1", user_id=user, interactions=interactions)


def recommendation(user: str = "u1") -> Recommendation:
    return Recommendation(user, "rid", (ScoredItem("P1"), ScoredItem("P2")), refresh_key="e1")


def test_every_adapter_reaches_its_route_and_is_counted(fake: CloudFake) -> None:
    PersonalizeEventTracker(client("personalize-events", fake), "t").put_events(batch("u1", "e1", "e2"))
    listed = PersonalizeRecommender(client("personalize-runtime", fake), campaign_arn=CAMPAIGN_ARN)
    ranked = listed.get_recommendations(RecommendationRequest("u1", num_results=5))
    history = ProfileApiPurchaseHistory("space", "token", host=fake.url)
    assert PinpointEndpointSink(client("pinpoint", fake), "app").publish([recommendation()]).failed == {}
    assert PersonasTraitSink("key", host=fake.url).publish([recommendation()]).failed == {}
    letter = DeadLetter(raw=b"not json", reason="invalid JSON", shard_id="shard-0", sequence_number="1")
    queue = f"{fake.url}/000000000000/dlq"
    assert SqsDeadLetterSink(client("sqs", fake), queue).send([letter]).failed == {}

    assert len(ranked.items) == 5 and ranked.recommendation_id.startswith("RID-")
    assert history.purchased_items("u1") == frozenset(fake.services.default_purchases("u1"))
    assert fake.calls() == dict.fromkeys(CallType, 1)
    assert fake.events_by_user() == {"u1": ["e1", "e2"]}
    assert [(i.user_id, i.traits["recommended_products"]) for i in fake.identifies()] == [
        ("u1", ["P1", "P2"])
    ]
    assert fake.endpoint_attributes() == {
        "u1-ep0": {"favourite_category": ["shoes"], "recommended_products": ["P1", "P2"]}
    }
    (dead,) = fake.dead_letters()
    assert dead.queue_url == queue and '"reason":"invalid JSON"' in dead.body
    assert fake.recommendations_served() == {"u1": 1} and fake.profile_reads() == {"user_id:u1": 1}


def test_pue_reaches_the_fake_through_its_ordinary_settings(fake: CloudFake) -> None:
    pipeline, _ = build_pipeline(Settings.from_env(fake.env()))
    messages = [
        factories.segment_track("Product Viewed", user_id=f"u{n % 3}", properties={"product_id": f"p{n}"})
        for n in range(12)
    ]
    try:
        response, result = handle_event(factories.kinesis_event([*messages, b"{not json"]), pipeline)
    finally:
        pipeline.close()
    assert response == {"batchItemFailures": []}
    assert result is not None and result.counts.processed == 12 and result.counts.dead_lettered == 1
    assert fake.calls() == {
        CallType.PUT_EVENTS: 3,
        CallType.GET_RECOMMENDATIONS: 3,
        CallType.PROFILE_TRAITS: 3,
        CallType.SEGMENT_BATCH: 1,
        CallType.GET_USER_ENDPOINTS: 3,
        CallType.UPDATE_ENDPOINTS_BATCH: 1,
        CallType.SEND_MESSAGE_BATCH: 1,
    }
    assert fake.events_by_user()["u1"] == [m["messageId"] for m in messages if m["userId"] == "u1"]
    # Every other user bought their top item: the fake's purchases come back out of the lists.
    for identify in fake.identifies():
        assert not set(identify.traits["recommended_products"]) & set(
            fake.services.default_purchases(identify.user_id)
        )


def test_users_without_endpoints_get_not_found_and_counts_can_vary(monkeypatch: pytest.MonkeyPatch) -> None:
    with CloudFake(endpoints_per_user=lambda user: 0 if user == "u0" else 2) as fake:
        for name, value in fake.env().items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        sink = PinpointEndpointSink(client("pinpoint", fake), "app")
        report = sink.publish([recommendation("u0"), recommendation("u1")])
    assert report.failed == {}
    assert sorted(fake.endpoint_attributes()) == ["u1-ep0", "u1-ep1"]
    assert fake.calls() == {CallType.GET_USER_ENDPOINTS: 2, CallType.UPDATE_ENDPOINTS_BATCH: 1}


def test_latency_is_configured_per_call_type() -> None:
    fake = CloudFake(latency={CallType.PUT_EVENTS: 0.05})
    assert fake.latency(CallType.PUT_EVENTS) == 0.05 and fake.latency(CallType.SEGMENT_BATCH) == 0.0
    fake.set_latency(0.02)
    assert {fake.latency(call) for call in CallType} == {0.02}
    with pytest.raises(ValueError):
        fake.set_latency(-1.0)


def test_latency_past_the_client_timeout_is_a_retryable_timeout(fake: CloudFake) -> None:
    fake.set_latency({CallType.PUT_EVENTS: 1.0})
    tracker = PersonalizeEventTracker(client("personalize-events", fake, read_timeout=0.1), "t")
    with pytest.raises(RetryableError) as raised:
        tracker.put_events(batch())
    assert raised.value.code == "ReadTimeoutError"
    assert fake.calls() == {CallType.PUT_EVENTS: 1}


def test_concurrent_calls_are_counted_and_their_peak_is_seen(fake: CloudFake) -> None:
    fake.set_latency(0.2)
    recommender = PersonalizeRecommender(client("personalize-runtime", fake), campaign_arn=CAMPAIGN_ARN)
    with ThreadPoolExecutor(max_workers=4) as pool:
        lists = list(
            pool.map(lambda n: recommender.get_recommendations(RecommendationRequest(f"u{n}")), range(8))
        )
    assert len(lists) == 8 and fake.calls() == {CallType.GET_RECOMMENDATIONS: 8}
    assert 2 <= fake.peak_in_flight(reset=True) <= 4
    assert fake.peak_in_flight() == 0


def test_stats_are_served_over_http_and_unknown_routes_are_404(fake: CloudFake) -> None:
    PersonalizeEventTracker(client("personalize-events", fake), "t").put_events(batch())
    stats = requests.get(f"{fake.url}/_fake/stats", timeout=5).json()
    assert stats == {"calls": {"PutEvents": 1}, "faults": {}, "peak_in_flight": 1}
    assert requests.post(f"{fake.url}/_fake/peak/reset", timeout=5).json() == {"peak_in_flight": 1}
    assert requests.get(f"{fake.url}/nowhere", timeout=5).status_code == 404
    fake.reset()
    assert fake.calls() == {} and fake.events_by_user() == {}


def test_fault_plan_is_deterministic_per_request_whatever_the_arrival_order() -> None:
    rates = {CallType.PUT_EVENTS: FaultRates(throttle=0.3, server_error=0.2, slow=0.1, reset=0.1, denied=0.1)}
    keys = [f"request-{n}" for n in range(200)]
    forward, backward = FaultPlan(rates, seed=7), FaultPlan(rates, seed=7)
    first = {key: forward.decide(CallType.PUT_EVENTS, key) for key in keys}
    second = {key: backward.decide(CallType.PUT_EVENTS, key) for key in reversed(keys)}
    other = {key: FaultPlan(rates, seed=8).decide(CallType.PUT_EVENTS, key) for key in keys}
    assert first == second
    assert first != other
    assert set(first.values()) == {None, *Fault}
    # The second attempt of a request is a new draw: a retry can succeed.
    retries = {key: forward.decide(CallType.PUT_EVENTS, key) for key in keys}
    assert retries != first and forward.attempts(CallType.PUT_EVENTS, keys[0]) == 2


def test_fault_plan_is_off_by_default_and_rates_are_checked() -> None:
    assert {FaultPlan().decide(call, "k") for call in CallType} == {None}
    assert (
        FaultPlan({CallType.SEGMENT_BATCH: FaultRates(reset=1.0)}).decide(CallType.SEGMENT_BATCH, "k")
        is Fault.RESET
    )
    with pytest.raises(ValueError):
        FaultRates(throttle=0.7, server_error=0.4)
    with pytest.raises(ValueError):
        FaultRates(slow=-0.1)


def _aws_failure(fake: CloudFake, call: CallType, fault: Fault) -> PueError:
    fake.set_faults({call: FaultRates(**{fault.value: 1.0})})
    with pytest.raises(PueError) as raised:
        if call is CallType.PUT_EVENTS:
            PersonalizeEventTracker(client("personalize-events", fake, read_timeout=0.2), "t").put_events(
                batch()
            )
        elif call is CallType.GET_RECOMMENDATIONS:
            recommender = PersonalizeRecommender(
                client("personalize-runtime", fake), campaign_arn=CAMPAIGN_ARN
            )
            recommender.get_recommendations(RecommendationRequest("u1"))
        else:
            # A plain session: one attempt, like the AWS clients here (the default one retries).
            history = ProfileApiPurchaseHistory(
                "space", "token", host=fake.url, timeout=0.2, session=requests.Session()
            )
            history.purchased_items("u1")
    return raised.value


@pytest.mark.parametrize(
    ("call", "fault", "code"),
    [
        (CallType.PUT_EVENTS, Fault.THROTTLE, "ThrottlingException"),
        (CallType.GET_RECOMMENDATIONS, Fault.SERVER_ERROR, "InternalFailure"),
        (CallType.PUT_EVENTS, Fault.RESET, "ConnectionClosedError"),
        (CallType.PROFILE_TRAITS, Fault.THROTTLE, "rate_limit_error"),
        (CallType.PROFILE_TRAITS, Fault.SERVER_ERROR, "server_error"),
    ],
)
def test_injected_faults_have_each_services_shape(
    fake: CloudFake, call: CallType, fault: Fault, code: str
) -> None:
    error = _aws_failure(fake, call, fault)
    assert error.retryable and error.code == code
    assert fake.faults() == {(call, fault): 1}


def test_sink_faults_fail_the_users_retryably(fake: CloudFake) -> None:
    fake.set_faults(
        {
            CallType.SEGMENT_BATCH: FaultRates(throttle=1.0),
            CallType.UPDATE_ENDPOINTS_BATCH: FaultRates(throttle=1.0),
            CallType.SEND_MESSAGE_BATCH: FaultRates(throttle=1.0),
        }
    )
    personas = PersonasTraitSink("key", host=fake.url).publish([recommendation()]).failed
    pinpoint = PinpointEndpointSink(client("pinpoint", fake), "app").publish([recommendation()]).failed
    letter = DeadLetter(raw=b"x", reason="r", shard_id="s", sequence_number="1")
    dead = SqsDeadLetterSink(client("sqs", fake), f"{fake.url}/0/q").send([letter]).failed
    assert (personas["u1"].code, pinpoint["u1"].code, dead[letter.letter_id].code) == (
        "rate_limit_error",
        "TooManyRequestsException",
        "RequestThrottled",
    )
    assert all(error.retryable for error in (personas["u1"], pinpoint["u1"], dead[letter.letter_id]))
    assert fake.identifies() == [] and fake.endpoint_attributes() == {} and fake.dead_letters() == []


def test_a_slow_answer_is_applied_but_a_reset_is_not(fake: CloudFake) -> None:
    fake.slow_seconds = 0.5
    slow = _aws_failure(fake, CallType.PUT_EVENTS, Fault.SLOW)
    assert slow.retryable and slow.code == "ReadTimeoutError"
    assert fake.events_by_user() == {"u1": ["e1"]}  # the service got it; only the answer was late
    fake.reset()
    reset = _aws_failure(fake, CallType.PUT_EVENTS, Fault.RESET)
    assert reset.retryable and fake.events_by_user() == {}


def test_the_same_seed_injects_the_same_faults_into_the_same_requests(fake: CloudFake) -> None:
    tracker = PersonalizeEventTracker(client("personalize-events", fake), "t")

    def outcomes() -> list[str]:
        found = []
        for n in range(30):
            try:
                tracker.put_events(batch("u1", f"e{n}"))
                found.append("ok")
            except PueError as error:
                found.append(str(error.code))
        return found

    rates = {CallType.PUT_EVENTS: FaultRates(throttle=0.3, server_error=0.3)}
    fake.set_faults(rates, seed=3)
    first = outcomes()
    fake.set_faults(rates, seed=3)
    assert outcomes() == first
    assert {"ok", "ThrottlingException", "InternalFailure"} == set(first)
