"""The API on the aws backend: Personalize calls as the API makes them (botocore Stubber, no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from consumers.bootstrap.api import build_api
from consumers.config.api_settings import ApiSettings
from consumers.config.settings import Settings
from consumers.web.contract import ApiRequest
from consumers.web.routes import Api

KEY = "aws-backend-test-key-0123456789"
CAMPAIGN = "arn:aws:personalize:us-east-1:123456789012:campaign/user-personalization"
SIMS = "arn:aws:personalize:us-east-1:123456789012:campaign/sims"
FILTER = "arn:aws:personalize:us-east-1:123456789012:filter/instock"
SETTINGS = Settings(
    backend="aws",
    tracking_id="tracking-1",
    campaign_arn=CAMPAIGN,
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    num_results=5,
)


def client(service: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),  # one stubbed answer per call
    )


class AwsApi:
    def __init__(self, related: str | None = None) -> None:
        clients = {name: client(name) for name in ("personalize-runtime", "personalize-events", "sqs")}
        self.runtime = Stubber(clients["personalize-runtime"])
        self.events = Stubber(clients["personalize-events"])
        for stubber in (self.runtime, self.events):
            stubber.activate()
        api_settings = ApiSettings(
            api_keys=(KEY,), filters={"instock": FILTER}, related_items_campaign_arn=related
        )
        self.api: Api = build_api(SETTINGS, api_settings, clients=clients)

    def get(self, query: tuple[tuple[str, str], ...]) -> tuple[int, dict[str, str], Any]:
        response = self.api.handle(ApiRequest("GET", "/recommendations", query, {"x-api-key": KEY}))
        return response.status, response.headers, json.loads(response.body)


@pytest.fixture
def aws() -> Iterator[AwsApi]:
    harness = AwsApi(related=SIMS)
    yield harness
    harness.api.close()
    harness.runtime.assert_no_pending_responses()
    harness.events.assert_no_pending_responses()


def test_user_recommendations_from_the_campaign(aws: AwsApi) -> None:
    aws.runtime.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "p1", "score": 0.9}, {"itemId": "p2"}], "recommendationId": "RID-aws"},
        {"campaignArn": CAMPAIGN, "userId": "u1", "numResults": 5},
    )
    status, _, body = aws.get((("userId", "u1"),))
    assert status == 200
    assert body == {
        "userId": "u1",
        "recommendationId": "RID-aws",
        "items": [{"itemId": "p1", "score": 0.9}, {"itemId": "p2", "score": None}],
    }


def test_named_filter_and_its_values_reach_personalize(aws: AwsApi) -> None:
    aws.runtime.add_response(
        "get_recommendations",
        {"itemList": [], "recommendationId": "RID-f"},
        {
            "campaignArn": CAMPAIGN,
            "userId": "u1",
            "numResults": 2,
            "filterArn": FILTER,
            "filterValues": {"CATEGORY": '"shoes"'},
        },
    )
    status, _, _ = aws.get(
        (("userId", "u1"), ("numResults", "2"), ("filter", "instock"), ("filterValues.CATEGORY", '"shoes"'))
    )
    assert status == 200


def test_related_items_from_the_related_items_campaign(aws: AwsApi) -> None:
    aws.runtime.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "p9", "score": 0.5}], "recommendationId": "RID-sims"},
        {"campaignArn": SIMS, "itemId": "p1", "numResults": 5},
    )
    status, _, body = aws.get((("itemId", "p1"),))
    assert (status, body["itemId"], body["items"][0]["itemId"]) == (200, "p1", "p9")


def test_without_a_related_items_campaign_item_requests_are_400() -> None:
    harness = AwsApi(related=None)
    try:
        status, _, body = harness.get((("itemId", "p1"),))
    finally:
        harness.api.close()
    assert status == 400 and "related-items campaign" in body["error"]["message"]


def test_metadata_is_not_supported_on_aws_yet(aws: AwsApi) -> None:
    status, _, body = aws.get((("userId", "u1"), ("includeMetadata", "true")))
    assert status == 400 and "not supported" in body["error"]["message"]


@pytest.mark.parametrize(
    ("code", "http_status", "status"),
    [
        ("ThrottlingException", 400, 503),
        ("AccessDeniedException", 400, 500),  # the deployment's fault, not the request's
        ("InternalFailure", 500, 502),
        ("InvalidInputException", 400, 502),
    ],
)
def test_personalize_failures(aws: AwsApi, code: str, http_status: int, status: int) -> None:
    aws.runtime.add_client_error("get_recommendations", service_error_code=code, http_status_code=http_status)
    got, headers, body = aws.get((("userId", "u1"),))
    assert got == status and body["error"]["code"] in ("throttled", "upstream_failed", "internal_error")
    assert (headers.get("Retry-After") == "1") == (status == 503)


def test_post_event_tracks_then_answers_fresh_recommendations(aws: AwsApi) -> None:
    aws.events.add_response(
        "put_events",
        {},
        {
            "trackingId": "tracking-1",
            "userId": "u1",
            "sessionId": "u1",
            "eventList": [
                {"eventId": ANY, "eventType": "Product Viewed", "sentAt": ANY, "itemId": "p3"},
            ],
        },
    )
    aws.runtime.add_response(
        "get_recommendations",
        {"itemList": [{"itemId": "p4", "score": 0.7}], "recommendationId": "RID-after"},
        {"campaignArn": CAMPAIGN, "userId": "u1", "numResults": 5},
    )
    body = json.dumps({"userId": "u1", "itemId": "p3", "eventType": "Product Viewed"}).encode()
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    response = aws.api.handle(ApiRequest("POST", "/events", (), headers, body))
    assert response.status == 200
    assert json.loads(response.body)["recommendationId"] == "RID-after"
