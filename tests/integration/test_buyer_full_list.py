"""A buyer gets the number of recommendations asked for, none of them bought (issue 21), on the AWS backend
as deployed: the stream, the refresh sweep and the HTTP API, each wired by ``consumers.bootstrap`` from
settings, with the purchase ledger and the refresh ledger on moto's DynamoDB and the Personas sink on a
loopback Segment receiver.

Personalize is a real botocore client whose GetRecommendations calls are recorded as sent and answered from
the call itself: the ranked catalogue's first ``numResults`` items, never more (``p000``, ``p001``, ... in
order), as a trained campaign answers. So the list holds ``numResults`` items after the exclusions only if
pue asked for enough.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from consumers.bootstrap.api import build_api
from consumers.bootstrap.stream import build_pipeline
from consumers.config.api_settings import ApiSettings
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from consumers.stream.refresh_sweep import sweep_owed_refreshes
from consumers.web.contract import ApiRequest
from destinations.aws.purchase_ledger import DynamoPurchaseLedger
from schemas.limits import GET_RECOMMENDATIONS_MAX_RESULTS
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.contract.test_refresh_ledger import create_ledger_table
from tests.factories import kinesis_event, segment_track
from tests.support.http_receiver import HttpReceiver
from tests.unit.test_refresh_owed import Clock

CAMPAIGN = "arn:aws:personalize:us-east-1:123456789012:campaign/user-personalization"
CATALOGUE = tuple(f"p{n:03d}" for n in range(1000))
KEY = "buyer-test-key-0123456789abcdef"
INTERVAL = 60


@dataclass
class Personalize:
    """GetRecommendations as sent (``num_results``) and answered from the call: the first numResults items."""

    num_results: list[int] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build.personalize-runtime.GetRecommendations", self._record)
        events.register("before-call.personalize-runtime.GetRecommendations", self._answer)
        events.register("before-call.personalize-events.PutEvents", self._accept)
        return client

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.num_results.append(int(params["numResults"]))

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        items = [{"itemId": item, "score": 1.0} for item in CATALOGUE[: self.num_results[-1]]]
        return AWSResponse("https://stub.invalid", 200, {}, None), {
            "itemList": items,
            "recommendationId": "R",
        }

    @staticmethod
    def _accept(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://stub.invalid", 200, {}, None), {}


@dataclass
class Stack:
    settings: Settings
    clients: dict[str, Any]
    personalize: Personalize
    receiver: HttpReceiver

    def traits(self, user: str) -> list[list[str]]:
        """Every ``recommended_products`` trait Segment received for ``user``, in order."""
        return [
            message["traits"][RECOMMENDED_PRODUCTS]
            for request in self.receiver.requests_to("/v1/batch")
            for message in request.json()["batch"]
            if message.get("userId") == user
        ]

    def bought(self, user: str, items: list[str]) -> None:
        """Purchases already in the ledger (an earlier batch recorded them)."""
        DynamoPurchaseLedger(self.clients["dynamodb"], "purchases").record({user: frozenset(items)})


def client(service: str) -> Any:
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    personalize = Personalize()
    with mock_aws(), HttpReceiver() as receiver:
        clients = {name: client(name) for name in ("sqs", "dynamodb")}
        for name in ("personalize-runtime", "personalize-events"):
            clients[name] = personalize.attach(client(name))
        queue = clients["sqs"].create_queue(QueueName="dlq")["QueueUrl"]
        dynamodb = clients["dynamodb"]
        dynamodb.create_table(  # as deploy/template.yaml declares them
            TableName="purchases",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        )
        create_ledger_table(dynamodb, "refreshes")
        settings = Settings(
            backend="aws",
            tracking_id="tracking-1",
            campaign_arn=CAMPAIGN,
            dead_letter_queue_url=queue,
            num_results=3,
            purchase_ledger_table="purchases",
            refresh_min_interval_seconds=INTERVAL,
            refresh_ledger_table="refreshes",
            segment_write_key="write-key",
            segment_api_host=receiver.url,
        )
        yield Stack(settings, clients, personalize, receiver)


def pipeline(stack: Stack, clock: Clock) -> Pipeline:
    built, _ = build_pipeline(stack.settings, clients=stack.clients)
    built.clock = clock  # the refresh interval's time, as tests of the interval inject it
    return built


def order(user: str, n: int, *items: str) -> dict[str, object]:
    products = [{"product_id": item} for item in items]
    return segment_track(
        "Order Completed", user_id=user, properties={"products": products}, message_id=f"o{n}"
    )


def view(user: str, n: int, item: str = "p999") -> dict[str, object]:
    return segment_track("Product Viewed", user_id=user, properties={"product_id": item}, message_id=f"v{n}")


def test_the_stream_and_the_sweep_publish_the_full_list_with_nothing_bought(stack: Stack) -> None:
    clock = Clock()
    p = pipeline(stack, clock)
    try:
        # t=0: two of the top three bought in the batch that refreshes the buyer (issue 21's case).
        _, first = handle_event(kinesis_event([order("buyer", 1, "p000", "p001")]), p)
        clock.at(5)  # inside the interval: owed, with a third purchase
        _, owed = handle_event(kinesis_event([order("buyer", 2, "p002")]), p)
        clock.at(INTERVAL + 1)
        swept = sweep_owed_refreshes(p)
    finally:
        p.close()
    assert first is not None and first.counts.users_refreshed == 1 and first.counts.lists_short == 0
    assert owed is not None and owed.counts.users_refreshed == 0
    assert swept.refreshed == 1 and swept.short == 0
    # 3 asked + 2 bought, then 3 asked + 3 bought: whichever of them the ranking holds, 3 remain.
    assert stack.personalize.num_results == [5, 6]
    assert stack.traits("buyer") == [["p002", "p003", "p004"], ["p003", "p004", "p005"]]


def test_the_api_answers_the_full_list_with_nothing_bought(stack: Stack) -> None:
    stack.bought("buyer", ["p000", "p001", "p004"])
    api = build_api(stack.settings, ApiSettings(api_keys=(KEY,)), clients=stack.clients)
    try:
        lists = []
        for query in ((("userId", "buyer"),), (("userId", "buyer"), ("numResults", "5"))):
            response = api.handle(ApiRequest("GET", "/recommendations", query, {"x-api-key": KEY}))
            assert response.status == 200
            lists.append([item["itemId"] for item in json.loads(response.body)["items"]])
    finally:
        api.close()
    assert stack.personalize.num_results == [3 + 3, 5 + 3]
    assert lists == [["p002", "p003", "p005"], ["p002", "p003", "p005", "p006", "p007"]]


def test_the_ask_is_capped_at_500_and_a_list_the_cap_cannot_fill_is_short_and_counted(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack.bought("heavy", list(CATALOGUE[:400]))  # 403 asked: within the cap, full list
    stack.bought("heavier", list(CATALOGUE[:498]))  # 501 wanted, 500 asked: 2 of 3 remain
    stack.bought("heaviest", list(CATALOGUE[:600]))  # every item of the 500 bought: none remain
    clock = Clock()
    p = pipeline(stack, clock)
    try:
        with caplog.at_level(logging.WARNING, logger="pue.pipeline"):
            _, result = handle_event(
                kinesis_event([view("heavy", 1), view("heavier", 2), view("heaviest", 3)]), p
            )
    finally:
        p.close()
    assert sorted(stack.personalize.num_results) == [403, GET_RECOMMENDATIONS_MAX_RESULTS, 500]
    assert stack.traits("heavy") == [["p400", "p401", "p402"]]
    assert stack.traits("heavier") == [["p498", "p499"]]
    assert stack.traits("heaviest") == [[]]
    assert result is not None and result.counts.users_refreshed == 3 and result.counts.lists_short == 2
    short = [r for r in caplog.records if r.getMessage().startswith("recommendation list short")]
    assert sorted(r.fields["kept"] for r in short) == [0, 2]  # type: ignore[attr-defined]


def test_post_events_answers_the_full_list_without_the_purchase_it_tracks(stack: Stack) -> None:
    api = build_api(stack.settings, ApiSettings(api_keys=(KEY,)), clients=stack.clients)
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    body = json.dumps(order("buyer", 1, "p000", "p001")).encode()
    try:
        response = api.handle(ApiRequest("POST", "/events", (("numResults", "3"),), headers, body))
    finally:
        api.close()
    assert response.status == 200
    assert [item["itemId"] for item in json.loads(response.body)["items"]] == ["p002", "p003", "p004"]
    assert stack.personalize.num_results == [5]
    assert stack.traits("buyer") == [["p002", "p003", "p004"]]
