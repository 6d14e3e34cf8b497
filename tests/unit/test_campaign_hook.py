"""The Pinpoint campaign hook: same keys back, enriched where possible, never held up or failed by a user."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from consumers import campaign_hook
from consumers.bootstrap.hooks import build_campaign_hook
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.engagement.campaign_hook import CampaignHook
from destinations.engagement_content import DetailSpec
from schemas.errors import ConfigError, PermanentError, RetryableError
from schemas.limits import PINPOINT_ATTRIBUTE_MAX_VALUES, PINPOINT_CAMPAIGN_HOOK_MAX_ENDPOINTS
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.fakes import FakePurchases

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "engagement"
CAMPAIGN = "arn:aws:personalize:us-east-1:111122223333:campaign/user-personalization"
CATALOG: dict[str, dict[str, object]] = {
    f"p{n}": {"NAME": f"Product {n}", "PRICE": f"{n}.99", "URL": f"https://shop.example/p{n}"}
    for n in range(9)
}


def sample_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / "campaign_hook_event.json").read_text())
    return event


def fifty_endpoint_event() -> dict[str, Any]:
    """50 endpoints shaped like the documented sample: every 5th has no user, users have 1-2 endpoints."""
    event = sample_event()
    template = event["Endpoints"]["EndpointId-1234"]
    endpoints = {}
    for n in range(PINPOINT_CAMPAIGN_HOOK_MAX_ENDPOINTS):
        endpoint = copy.deepcopy(template)
        endpoint["User"] = {} if n % 5 == 0 else {"UserId": f"user-{n // 2}"}
        endpoints[f"endpoint-{n:02d}"] = endpoint
    event["Endpoints"] = endpoints
    return event


class ByUser:
    """A thread-safe recommender answering per user: user-<k> gets p<k % 9>, p<(k+1) % 9>, ..."""

    def __init__(self, fail: dict[str, Exception] | None = None, block: set[str] | None = None) -> None:
        self.fail = fail or {}
        self.block = block or set()
        self.release = threading.Event()
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        assert request.user_id is not None
        with self.lock:
            self.asked.append(request.user_id)
        if request.user_id in self.block:
            self.release.wait(timeout=30)
        if request.user_id in self.fail:
            raise self.fail[request.user_id]
        k = int(request.user_id.rsplit("-", 1)[-1]) if request.user_id[-1].isdigit() else 0
        items = tuple(ScoredItem(f"p{(k + i) % 9}") for i in range(4))
        return Recommendation(request.user_id, f"rid-{request.user_id}", items)


class DictCatalog:
    def __init__(self, items: dict[str, dict[str, object]]) -> None:
        self.data = items

    def items(self, item_ids: Any) -> dict[str, dict[str, object]]:
        return {i: dict(self.data[i]) for i in item_ids if i in self.data}


@pytest.fixture
def hook_factory() -> Iterator[Callable[..., CampaignHook]]:
    made: list[CampaignHook] = []

    def make(recommender: Any, **kwargs: Any) -> CampaignHook:
        kwargs.setdefault("catalog", DictCatalog(CATALOG))
        kwargs.setdefault(
            "details", DetailSpec(ranks=2, fields={"name": "NAME", "price": "PRICE", "url": "URL"})
        )
        hook = CampaignHook(recommender, max_workers=8, **kwargs)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


def test_fifty_endpoints_come_back_under_the_same_keys_enriched_where_a_user_is_known(
    hook_factory: Callable[..., CampaignHook],
) -> None:
    event = fifty_endpoint_event()
    original = copy.deepcopy(event["Endpoints"])
    answer = hook_factory(ByUser()).enrich(event)
    assert list(answer) == list(original)
    for key, endpoint in answer.items():
        user = original[key]["User"].get("UserId")
        if user is None:
            assert endpoint == original[key]
            continue
        k = int(user.rsplit("-", 1)[-1])
        attributes = endpoint["Attributes"]
        assert attributes[RECOMMENDED_PRODUCTS] == [f"p{(k + i) % 9}" for i in range(4)]
        assert attributes["recommended_item_1_id"] == [f"p{k % 9}"]
        assert attributes["recommended_item_1_name"] == [f"Product {k % 9}"]
        assert attributes["recommended_item_2_url"] == [f"https://shop.example/p{(k + 1) % 9}"]
        assert "recommended_item_3_id" not in attributes
        assert attributes["FirstName"] == ["Mary"]  # the endpoint's own attributes survive
        assert {k: v for k, v in endpoint.items() if k != "Attributes"} == {
            k: v for k, v in original[key].items() if k != "Attributes"
        }
    assert event["Endpoints"] == original  # the input is not modified


def test_each_distinct_user_is_asked_once(hook_factory: Callable[..., CampaignHook]) -> None:
    recommender = ByUser()
    hook_factory(recommender).enrich(fifty_endpoint_event())
    expected = {f"user-{n // 2}" for n in range(PINPOINT_CAMPAIGN_HOOK_MAX_ENDPOINTS) if n % 5}
    assert sorted(recommender.asked) == sorted(expected)


def test_a_failing_user_comes_back_unchanged_and_the_others_are_enriched(
    hook_factory: Callable[..., CampaignHook],
) -> None:
    recommender = ByUser(
        fail={
            "user-1": PermanentError("unknown user", service="personalize-runtime", code="InvalidInput"),
            "user-2": RetryableError("throttled", service="personalize-runtime", code="ThrottlingException"),
            "user-3": KeyError("a bug"),
        }
    )
    event = fifty_endpoint_event()
    answer = hook_factory(recommender).enrich(event)
    for key, endpoint in answer.items():
        user = event["Endpoints"][key]["User"].get("UserId")
        if user in ("user-1", "user-2", "user-3", None):
            assert endpoint == event["Endpoints"][key]
        else:
            assert RECOMMENDED_PRODUCTS in endpoint["Attributes"]


def test_a_slow_upstream_is_cut_off_and_what_is_ready_is_returned(
    hook_factory: Callable[..., CampaignHook],
) -> None:
    recommender = ByUser(block={"user-4"})
    event = fifty_endpoint_event()
    try:
        answer = hook_factory(recommender).enrich(event, budget_seconds=0.3)
    finally:
        recommender.release.set()
    slow = [k for k, e in event["Endpoints"].items() if e["User"].get("UserId") == "user-4"]
    assert slow and all(answer[k] == event["Endpoints"][k] for k in slow)
    assert RECOMMENDED_PRODUCTS in answer["endpoint-11"]["Attributes"]  # user-5 was ready


def test_values_keep_to_pinpoints_limits(hook_factory: Callable[..., CampaignHook]) -> None:
    long_id = "x" * 101
    catalog: dict[str, dict[str, object]] = {
        "p1": {"NAME": "n" * 101, "PRICE": "9.99", "URL": "https://shop.example/p1"}
    }

    class Many:
        def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
            items = (ScoredItem(long_id), ScoredItem("p1"), *(ScoredItem(f"q{n}") for n in range(60)))
            return Recommendation(str(request.user_id), "rid", items)

    # 62 asked and answered: more than Pinpoint takes per attribute.
    answer = hook_factory(Many(), catalog=DictCatalog(catalog), num_results=62).enrich(sample_event())
    attributes = answer["EndpointId-3456"]["Attributes"]
    assert attributes[RECOMMENDED_PRODUCTS] == [
        "p1",
        *(f"q{n}" for n in range(PINPOINT_ATTRIBUTE_MAX_VALUES - 1)),
    ]
    assert attributes["recommended_item_1_id"] == ["p1"]
    assert "recommended_item_1_name" not in attributes  # over 100 characters: left out, never cut
    assert attributes["recommended_item_1_price"] == ["9.99"]
    assert all(len(v) <= 100 for values in attributes.values() for v in values)


def test_the_documented_sample_event(hook_factory: Callable[..., CampaignHook]) -> None:
    event = sample_event()
    answer = hook_factory(ByUser()).enrich(event)
    assert list(answer) == list(event["Endpoints"])
    assert answer["EndpointId-9012"] == event["Endpoints"]["EndpointId-9012"]  # no user id
    sms = answer["EndpointId-5678"]["Attributes"]
    assert "recommended_item_9_name" not in sms  # a stale detail of ours does not survive
    assert sms[RECOMMENDED_PRODUCTS] == answer["EndpointId-1234"]["Attributes"][RECOMMENDED_PRODUCTS]
    assert answer["EndpointId-1234"]["User"] == {"UserId": "user-1", "UserAttributes": {"Tier": ["gold"]}}


@pytest.mark.parametrize("event", [{}, {"Endpoints": []}, {"Endpoints": None}, []])
def test_an_event_without_an_endpoints_map_gets_an_empty_map(
    hook_factory: Callable[..., CampaignHook], event: Any
) -> None:
    assert hook_factory(ByUser()).enrich(event) == {}


def test_the_handler_answers_within_lambdas_remaining_time(
    hook_factory: Callable[..., CampaignHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    recommender = ByUser(block={"user-1"})
    monkeypatch.setattr(campaign_hook, "_hook", hook_factory(recommender))

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 800  # minus the response margin: 0.3 s for the work

    try:
        answer = campaign_hook.handler(sample_event(), Context())
    finally:
        recommender.release.set()
    assert RECOMMENDED_PRODUCTS not in answer["EndpointId-1234"]["Attributes"]
    assert RECOMMENDED_PRODUCTS in answer["EndpointId-3456"]["Attributes"]


# -- against stubs: Personalize answered per user, the catalog in a (moto) DynamoDB table ------------------


def answer_per_user(client: Any, operation: str, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Answer ``operation`` from the request's own JSON body: unlike a Stubber's queue, concurrent calls get
    their own user's answer. The request is still built and validated by botocore."""

    def respond(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://stub.invalid", 200, {}, None), answer(json.loads(params["body"]))

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-call.{service}.{operation}", respond)


def boto(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def string_keyed_table(dynamodb: Any, name: str, key: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def aws_clients() -> Iterator[dict[str, Any]]:
    with mock_aws():
        dynamodb = boto("dynamodb")
        string_keyed_table(dynamodb, "items", "ITEM_ID")
        for item_id, fields in CATALOG.items():
            item = {"ITEM_ID": {"S": item_id}, **{k: {"S": str(v)} for k, v in fields.items()}}
            dynamodb.put_item(TableName="items", Item=item)
        dynamodb.put_item(
            TableName="items", Item={"ITEM_ID": {"S": "p8"}, "NAME": {"S": "Eight"}, "PRICE": {"N": "8"}}
        )
        runtime = boto("personalize-runtime")
        asked: list[str] = []

        def recommend(body: dict[str, Any]) -> dict[str, Any]:
            assert body["campaignArn"] == CAMPAIGN and body["numResults"] == 25
            asked.append(body["userId"])
            k = int(body["userId"].rsplit("-", 1)[-1])
            return {
                "itemList": [{"itemId": f"p{(k + i) % 9}", "score": 0.5} for i in range(4)],
                "recommendationId": "r",
            }

        answer_per_user(runtime, "GetRecommendations", recommend)
        yield {
            "personalize-runtime": runtime,
            "personalize-events": boto("personalize-events"),
            "sqs": boto("sqs"),
            "dynamodb": dynamodb,
            "asked": asked,
        }


def test_fifty_endpoints_against_personalize_and_a_dynamodb_catalog(aws_clients: dict[str, Any]) -> None:
    settings = Settings(
        backend="aws",
        tracking_id="tracking-1",
        campaign_arn=CAMPAIGN,
        dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/111122223333/dlq",
    )
    engagement = EngagementSettings(catalog_table="items", detail_ranks=2)
    asked = aws_clients.pop("asked")
    hook = build_campaign_hook(settings, engagement, clients=aws_clients)
    try:
        event = fifty_endpoint_event()
        answer = hook.enrich(event)
    finally:
        hook.close()
    assert list(answer) == list(event["Endpoints"])
    assert sorted(asked) == sorted({f"user-{n // 2}" for n in range(50) if n % 5})
    for key, endpoint in answer.items():
        user = event["Endpoints"][key]["User"].get("UserId")
        if user is None:
            assert endpoint == event["Endpoints"][key]
            continue
        k = int(user.rsplit("-", 1)[-1])
        name = "Eight" if k % 9 == 8 else CATALOG[f"p{k % 9}"]["NAME"]  # p8 was replaced in the table
        assert endpoint["Attributes"]["recommended_item_1_name"] == [name]
    user_with_p8 = answer["endpoint-16"]["Attributes"]  # user-8 starts at p8 (price stored as a number)
    assert user_with_p8["recommended_item_1_price"] == ["8"]
    assert user_with_p8["recommended_item_1_name"] == ["Eight"]


# -- settings --------------------------------------------------------------------------------------------


def test_engagement_settings_name_every_problem() -> None:
    env = {
        "PUE_CAMPAIGN_HOOK_TIMEOUT_SECONDS": "15",
        "PUE_CATALOG_RANKS": "11",
        "PUE_CATALOG_FIELDS": '{"Name": "NAME", "id": "ITEM"}',
        "PUE_CUSTOMER_PROFILES_KEY": "user id",
        "PUE_CUSTOMER_PROFILES_CREATE": "maybe",
        "PUE_MESSAGE_CHANNEL": "fax",
        "PUE_MESSAGE_TEMPLATE": "recs",
        "PUE_SEGMENT_IMPORT_ROLE_ARN": "role/pinpoint",
    }
    settings = Settings(backend="aws", tracking_id="t", campaign_arn=CAMPAIGN, dead_letter_queue_url="q")
    with pytest.raises(ConfigError) as caught:
        EngagementSettings.from_env(env, settings=settings)
    text = "\n".join(caught.value.problems)
    for name in (
        "PUE_CAMPAIGN_HOOK_TIMEOUT_SECONDS",
        "PUE_CATALOG_RANKS",
        "'Name'",
        "'id'",
        "PUE_CUSTOMER_PROFILES_KEY",
        "PUE_CUSTOMER_PROFILES_CREATE",
        "PUE_MESSAGE_CHANNEL",
        "PINPOINT_APPLICATION_ID",
        "PUE_MESSAGE_LEDGER_TABLE",
        "PUE_SEGMENT_IMPORT_ROLE_ARN",
    ):
        assert name in text
    assert len(caught.value.problems) == 10


def test_engagement_settings_defaults_switch_everything_off() -> None:
    engagement = EngagementSettings.from_env({})
    assert engagement.customer_profiles_domain is None and engagement.message_template is None
    assert engagement.details == DetailSpec()
    assert engagement.hook_timeout_seconds < 15


def test_the_lambda_handler_wires_itself_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from consumers.config import logs

    for name in list(os.environ):
        if name.startswith(("PUE_", "PERSONALIZE_", "PINPOINT_", "SEGMENT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PUE_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(logs, "configure_logging", lambda level: None)
    monkeypatch.setattr(campaign_hook, "_hook", None)
    try:
        answer = campaign_hook.handler(sample_event(), None)
        assert campaign_hook._hook is not None
    finally:
        if campaign_hook._hook is not None:
            campaign_hook._hook.close()
    assert list(answer) == list(sample_event()["Endpoints"])
    # A fresh local backend has nothing to recommend: endpoints come back as they were, minus stale ones.
    assert answer["EndpointId-3456"] == sample_event()["Endpoints"]["EndpointId-3456"]
    assert answer["EndpointId-5678"]["Attributes"] == {}


def test_a_buyers_endpoint_gets_as_many_items_as_asked_none_bought(
    hook_factory: Callable[..., CampaignHook],
) -> None:
    asked: list[int] = []

    class Ranked:  # answers the numResults the call carried, never more, as a campaign does
        def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
            asked.append(request.num_results)
            items = tuple(ScoredItem(f"p{n}") for n in range(request.num_results))
            return Recommendation(str(request.user_id), "rid", items)

    bought = FakePurchases({"user-1": frozenset({"p0", "p1"})})
    answer = hook_factory(Ranked(), purchases=bought, num_results=3).enrich(sample_event())
    assert answer["EndpointId-1234"]["Attributes"][RECOMMENDED_PRODUCTS] == ["p2", "p3", "p4"]
    assert sorted(asked) == [3, 5]  # user-2 bought nothing; user-1 three plus one per purchase


def test_the_hook_on_aws_leaves_out_what_the_purchase_ledger_holds() -> None:
    """The stream records purchases in the ledger (``PUE_PURCHASE_LEDGER_TABLE``); the hook reads it too,
    not only the Profile API, and asks Personalize past those items so the endpoint still gets 3."""
    from destinations.aws.purchase_ledger import DynamoPurchaseLedger

    with mock_aws():
        dynamodb = boto("dynamodb")
        string_keyed_table(dynamodb, "purchases", "user_id")
        # Written by the ledger adapter itself, as the stream writes it.
        report = DynamoPurchaseLedger(dynamodb, "purchases").record({"user-1": frozenset({"p0", "p1"})})
        assert not report.failed
        runtime = boto("personalize-runtime")
        asked: list[tuple[str, int]] = []

        def recommend(body: dict[str, Any]) -> dict[str, Any]:
            asked.append((body["userId"], body["numResults"]))
            items = [{"itemId": f"p{n}", "score": 0.5} for n in range(body["numResults"])]
            return {"itemList": items, "recommendationId": "r"}

        answer_per_user(runtime, "GetRecommendations", recommend)
        settings = Settings(
            backend="aws",
            tracking_id="tracking-1",
            campaign_arn=CAMPAIGN,
            dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/111122223333/dlq",
            purchase_ledger_table="purchases",
            num_results=3,
        )
        clients = {
            "personalize-runtime": runtime,
            "personalize-events": boto("personalize-events"),
            "dynamodb": dynamodb,
            "sqs": boto("sqs"),
        }
        hook = build_campaign_hook(settings, EngagementSettings(), clients=clients)
        try:
            answer = hook.enrich(sample_event())
        finally:
            hook.close()
    assert answer["EndpointId-1234"]["Attributes"][RECOMMENDED_PRODUCTS] == ["p2", "p3", "p4"]
    assert ("user-1", 5) in asked  # three asked for, plus one per purchase
