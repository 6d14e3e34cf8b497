"""The per-record reference handler, written for the benchmark: the approach of the reference workshops.

For each record in turn, one after another: decode it, PutEvents with its one event, GetRecommendations for
its user, a Profile API read of what the user bought, a synchronous identify with the list (one /v1/batch
per message), GetUserEndpoints and an endpoint update. Anonymous events are only tracked; messages that are
not tracked events are skipped, and so are undecodable ones. Same clients, same settings, same fake.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from tests.benchmarks.workload import TRACKED_EVENTS

NUM_RESULTS = 25


class ReferenceHandler:
    """Built from the same environment as pue (``CloudFake.env()``); ``handle`` takes a Lambda event."""

    def __init__(self, env: Mapping[str, str]) -> None:
        from destinations.aws.clients import make_client

        self.events = make_client("personalize-events")
        self.runtime = make_client("personalize-runtime")
        self.pinpoint = make_client("pinpoint")
        self.tracking_id = env["PERSONALIZE_TRACKING_ID"]
        self.campaign_arn = env["PERSONALIZE_CAMPAIGN_ARN"]
        self.application_id = env["PINPOINT_APPLICATION_ID"]
        self.write_key = env["SEGMENT_WRITE_KEY"]
        self.segment_host = env["SEGMENT_API_HOST"]
        self.profiles = (
            f"{env['SEGMENT_PROFILE_API_HOST']}/v1/spaces/{env['SEGMENT_SPACE_ID']}/collections/users"
        )
        self.session = requests.Session()
        self.session.auth = (env["SEGMENT_PROFILE_TOKEN"], "")
        self.skipped = 0

    def handle(self, event: Mapping[str, Any]) -> None:
        from aws_kinesis_agg.deaggregator import deaggregate_records

        for record in deaggregate_records(list(event["Records"])):
            try:
                message = json.loads(base64.b64decode(record["kinesis"]["data"]))
            except ValueError:
                self.skipped += 1
                continue
            self.handle_message(message)

    def handle_message(self, message: Mapping[str, Any]) -> None:
        if message.get("type") != "track" or message.get("event") not in TRACKED_EVENTS:
            return
        user_id = message.get("userId")
        self.put_event(message, user_id)
        if not user_id:
            return
        response = self.runtime.get_recommendations(
            campaignArn=self.campaign_arn, userId=user_id, numResults=NUM_RESULTS
        )
        purchased = set(self.purchased(user_id))
        items = [entry["itemId"] for entry in response["itemList"] if entry["itemId"] not in purchased]
        self.identify(user_id, items)
        self.update_endpoints(user_id, items)

    def put_event(self, message: Mapping[str, Any], user_id: str | None) -> None:
        properties = message.get("properties") or {}
        products = properties.get("products") or [properties]
        params: dict[str, Any] = {
            "trackingId": self.tracking_id,
            "sessionId": message.get("anonymousId") or user_id,
            "eventList": [
                {
                    "eventId": message["messageId"],
                    "eventType": message["event"],
                    "itemId": str(products[0].get("product_id")),
                    "sentAt": datetime.fromisoformat(message["timestamp"]),
                }
            ],
        }
        if user_id:
            params["userId"] = user_id
        self.events.put_events(**params)

    def purchased(self, user_id: str) -> list[str]:
        url = f"{self.profiles}/profiles/user_id:{user_id}/traits"
        response = self.session.get(url, params={"include": "purchased_products"}, timeout=5)
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return [str(item) for item in response.json()["traits"].get("purchased_products") or []]

    def identify(self, user_id: str, items: list[str]) -> None:
        from segment.analytics import request as segment_request

        message = {
            "type": "identify",
            "userId": user_id,
            "traits": {"recommended_products": items, "recommended_products_str": ",".join(items)},
            "messageId": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC).isoformat(),
        }
        segment_request.post(self.write_key, host=self.segment_host, timeout=5, batch=[message])

    def update_endpoints(self, user_id: str, items: list[str]) -> None:
        try:
            response = self.pinpoint.get_user_endpoints(ApplicationId=self.application_id, UserId=user_id)
        except self.pinpoint.exceptions.NotFoundException:
            return
        endpoints = response["EndpointsResponse"]["Item"]
        batch = [
            {
                "Id": endpoint["Id"],
                "User": {
                    "UserId": user_id,
                    "UserAttributes": {
                        **endpoint["User"].get("UserAttributes", {}),
                        "recommended_products": items,
                    },
                },
            }
            for endpoint in endpoints
        ]
        self.pinpoint.update_endpoints_batch(
            ApplicationId=self.application_id, EndpointBatchRequest={"Item": batch}
        )
