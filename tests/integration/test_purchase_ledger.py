"""``purchase: true`` on the AWS backend without the Segment Profile API (issue 13, item 5): the stream's own
purchase events go to the DynamoDB purchase ledger (moto), and every later refresh of the buyer leaves the
items out; with the Profile API off, no call reaches it (the loopback cloud fake records every request)."""

from __future__ import annotations

import os
from typing import Any
from unittest.mock import patch

import pytest
from botocore.stub import Stubber

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline, RefreshOptions
from destinations.aws.clients import make_client
from destinations.aws.purchase_ledger import DynamoPurchaseLedger
from schemas.errors import RetryableError
from tests import factories
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker
from tests.support.cloud_fake import CallType, CloudFake
from tests.support.moto_clients import moto_client

TABLE = "pue-purchases"


def order(user: str, *skus: str, n: int = 0) -> dict[str, Any]:
    products = [{"sku": sku} for sku in skus]
    return factories.segment_track("Order Completed", user_id=user, properties={"products": products, "n": n})


def view(user: str, product: str) -> dict[str, Any]:
    return factories.segment_track("Product Viewed", user_id=user, properties={"product_id": product})


def test_a_purchase_is_never_recommended_again_on_dynamodb() -> None:
    with moto_client("dynamodb") as client:
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        )
        sink = FakeSink()
        pipeline = Pipeline(
            tracker=FakeTracker(),
            recommender=FakeRecommender(items=("p9", "p1", "p2", "p3")),
            sinks=[sink],
            dead_letters=FakeDeadLetters(),
            purchases=None,
            purchase_ledger=DynamoPurchaseLedger(client, TABLE),
            event_map=EventMap.default(),
            refresh=RefreshOptions(num_results=4),
            max_workers=2,
        )
        bought = factories.kinesis_event([order("u1", "p9"), view("u2", "p1")])
        first = pipeline.handle(bought["Records"])
        assert first.counts.processed == 2 and not first.failed_sequence_numbers
        # The refresh the purchase itself triggers already leaves the item out; another user's does not.
        assert {r.user_id: r.item_ids for r in sink.published} == {
            "u1": ("p1", "p2", "p3"),
            "u2": ("p9", "p1", "p2", "p3"),
        }
        pipeline.handle(bought["Records"])  # redelivered: the set union changes nothing
        later = pipeline.handle(
            factories.kinesis_event([view("u1", "p2"), order("u1", "p3", n=1)])["Records"]
        )
        pipeline.close()
        assert not later.failed_sequence_numbers
        assert sink.published[-1].user_id == "u1" and sink.published[-1].item_ids == ("p1", "p2")
        row = client.get_item(TableName=TABLE, Key={"user_id": {"S": "u1"}})["Item"]
        assert set(row["items"]["SS"]) == {"p9", "p3"}
        assert "u2" not in {k["user_id"]["S"] for k in client.scan(TableName=TABLE)["Items"]}


def test_on_aws_without_the_profile_api_no_profile_call_is_made(tmp_path: Any) -> None:
    """Through bootstrap and the Lambda entry's ``handle_event``, against the loopback cloud fake."""
    with CloudFake() as fake:
        env = fake.env(PUE_PURCHASE_LEDGER_TABLE=TABLE, PUE_STATE_DIR=str(tmp_path))
        del env["SEGMENT_SPACE_ID"], env["SEGMENT_PROFILE_TOKEN"]
        dynamodb = make_client("dynamodb", region="us-east-1")
        stubber = Stubber(dynamodb)
        stubber.add_response("update_item", {})
        stubber.add_response(
            "batch_get_item", {"Responses": {TABLE: [{"user_id": {"S": "u1"}, "items": {"SS": ["x"]}}]}}
        )
        aws = {name: value for name, value in env.items() if name.startswith("AWS_")}
        with patch.dict(os.environ, aws), stubber:
            pipeline, wiring = build_pipeline(
                Settings.from_env(env), clients={"dynamodb": dynamodb}, engagement=EngagementSettings()
            )
            assert wiring.purchases is None and isinstance(wiring.purchase_ledger, DynamoPurchaseLedger)
            response, result = handle_event(factories.kinesis_event([order("u1", "x")]), pipeline)
            pipeline.close()
            stubber.assert_no_pending_responses()
        assert response == {"batchItemFailures": []} and result is not None
        calls = fake.calls()
        assert calls.get(CallType.PUT_EVENTS) and calls.get(CallType.GET_RECOMMENDATIONS)
        assert CallType.PROFILE_TRAITS not in calls and fake.profile_reads() == {}


def test_keys_left_unprocessed_are_asked_again_then_fail_the_read() -> None:
    client = make_client("dynamodb", region="us-east-1")
    unprocessed = {"UnprocessedKeys": {TABLE: {"Keys": [{"user_id": {"S": "u2"}}]}}}
    row = {"user_id": {"S": "u1"}, "items": {"SS": ["a"]}}
    with Stubber(client) as stubber:
        stubber.add_response("batch_get_item", {"Responses": {TABLE: [row]}, **unprocessed})
        stubber.add_response("batch_get_item", {"Responses": {TABLE: [{"user_id": {"S": "u2"}}]}})
        assert DynamoPurchaseLedger(client, TABLE).purchased(["u1", "u2"]) == {"u1": {"a"}, "u2": frozenset()}
        for _ in range(3):
            stubber.add_response("batch_get_item", {"Responses": {TABLE: []}, **unprocessed})
        with pytest.raises(RetryableError):
            DynamoPurchaseLedger(client, TABLE).purchased(["u2"])
        stubber.assert_no_pending_responses()
