"""The services behind the loopback cloud fake: routing, answers, error shapes and recorded effects.

Requests are recognised the way botocore and the Segment libraries send them (all to one endpoint):

    POST /events                                    personalize-events PutEvents (rest-json)
    POST /recommendations                           personalize-runtime GetRecommendations (rest-json)
    GET  /v1/apps/{app}/users/{user}                pinpoint GetUserEndpoints (rest-json)
    PUT  /v1/apps/{app}/endpoints                   pinpoint UpdateEndpointsBatch (rest-json)
    POST /  X-Amz-Target: AmazonSQS.SendMessageBatch  sqs (JSON protocol, botocore ≥ 1.31)
    POST /v1/batch                                  Segment tracking API
    GET  /v1/spaces/{space}/collections/users/profiles/{id}/traits   Segment Profile API
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.support.cloud_fake_faults import CallType, Fault
from tests.support.http_receiver import RecordedRequest, Reply

PURCHASED_TRAIT = "purchased_products"
EXISTING_ATTRIBUTE = "favourite_category"  # on every fake endpoint: an update must keep it
_AWS_JSON = {"Content-Type": "application/x-amz-json-1.1"}


def classify(request: RecordedRequest) -> CallType | None:
    """The call a request stands for, or None when the fake does not serve it."""
    method, path = request.method, request.path
    if method == "POST" and path == "/":
        target = request.headers.get("x-amz-target", "")
        return CallType.SEND_MESSAGE_BATCH if target == "AmazonSQS.SendMessageBatch" else None
    simple = {
        ("POST", "/events"): CallType.PUT_EVENTS,
        ("POST", "/recommendations"): CallType.GET_RECOMMENDATIONS,
        ("POST", "/v1/batch"): CallType.SEGMENT_BATCH,
    }
    if (method, path) in simple:
        return simple[(method, path)]
    parts = path.split("/")
    if path.startswith("/v1/apps/"):
        if method == "GET" and len(parts) == 6 and parts[4] == "users":
            return CallType.GET_USER_ENDPOINTS
        if method == "PUT" and len(parts) == 5 and parts[4] == "endpoints":
            return CallType.UPDATE_ENDPOINTS_BATCH
    if method == "GET" and path.startswith("/v1/spaces/") and path.endswith("/traits"):
        return CallType.PROFILE_TRAITS
    return None


def fault_key(call: CallType, request: RecordedRequest) -> str:
    """What identifies "the same request" across retries, for keyed fault draws."""
    if call is CallType.SEGMENT_BATCH:
        # sentAt and each message's timestamp change on a retry; the message ids do not.
        batch = request.json().get("batch", [])
        return ",".join(str(message.get("messageId")) for message in batch)
    digest = hashlib.sha256(request.body).hexdigest()[:16]
    query = "&".join(f"{k}={v}" for k, values in sorted(request.query.items()) for v in values)
    return f"{request.method} {request.path}?{query} {digest}"


def fault_reply(call: CallType, fault: Fault) -> Reply:
    """The error answer each service gives for throttling, a server-side failure or a denied permission."""
    if fault is Fault.DENIED:
        return _denied_reply(call)
    throttle = fault is Fault.THROTTLE
    if call in (CallType.PUT_EVENTS, CallType.GET_RECOMMENDATIONS):
        code, status = ("ThrottlingException", 400) if throttle else ("InternalFailure", 500)
        return _rest_json_error(status, code)
    if call in (CallType.GET_USER_ENDPOINTS, CallType.UPDATE_ENDPOINTS_BATCH):
        code, status = (
            ("TooManyRequestsException", 429) if throttle else ("InternalServerErrorException", 500)
        )
        return _rest_json_error(status, code)
    if call is CallType.SEND_MESSAGE_BATCH:
        code, status = ("RequestThrottled", 400) if throttle else ("InternalError", 500)
        side = "Sender" if throttle else "Receiver"
        body = {"__type": f"com.amazonaws.sqs#{code}", "message": "fault injected"}
        # Query-compatible services name the legacy error code in this header; botocore prefers it.
        return Reply(status, body, {**_AWS_JSON, "x-amzn-query-error": f"{code};{side}"})
    if call is CallType.SEGMENT_BATCH:
        code = "rate_limit_error" if throttle else "server_error"
        return Reply(429 if throttle else 500, {"code": code, "message": "fault injected"})
    code = "rate_limit_error" if throttle else "server_error"
    return Reply(429 if throttle else 500, {"error": {"code": code, "message": "fault injected"}})


def _denied_reply(call: CallType) -> Reply:
    """A policy broken by a deploy, a revoked token: AWS AccessDenied (SQS's query spelling), Segment 401."""
    if call is CallType.SEND_MESSAGE_BATCH:
        body = {"__type": "com.amazonaws.sqs#AccessDenied", "message": "fault injected"}
        return Reply(403, body, {**_AWS_JSON, "x-amzn-query-error": "AccessDenied;Sender"})
    if call in (CallType.SEGMENT_BATCH, CallType.PROFILE_TRAITS):
        return Reply(401, {"error": {"code": "unauthorized", "message": "fault injected"}})
    return _rest_json_error(403, "AccessDeniedException")


def _rest_json_error(status: int, code: str) -> Reply:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return Reply(status, {"message": "fault injected", "Message": "fault injected"}, headers)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True, slots=True)
class Identify:
    message_id: str
    user_id: str  # "None" for an identify with only an anonymousId
    traits: dict[str, Any]
    anonymous_id: str | None = None


@dataclass(frozen=True, slots=True)
class SqsMessage:
    queue_url: str
    body: str
    attributes: dict[str, Any]


@dataclass
class Records:
    """Effects the fake services applied, in arrival order (guarded by ``CloudServices.lock``)."""

    events: dict[str, list[str]] = field(default_factory=dict)  # userId (else sessionId) -> eventIds
    identifies: list[Identify] = field(default_factory=list)
    endpoint_attributes: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # endpoint id ->
    endpoint_updates: list[dict[str, Any]] = field(default_factory=list)  # every EndpointBatchItem
    dead_letters: list[SqsMessage] = field(default_factory=list)
    recommendations: dict[str, int] = field(default_factory=dict)  # userId -> GetRecommendations served
    profile_reads: dict[str, int] = field(default_factory=dict)  # profile id -> reads served


class CloudServices:
    """Answers successful calls and records their effects. Deterministic data: a user's recommendations,
    purchases and endpoints derive from the user id alone."""

    def __init__(
        self,
        *,
        endpoints_per_user: Callable[[str], int],
        purchases: Callable[[str], Sequence[str]] | None,
        catalog_size: int,
    ) -> None:
        self.lock = threading.Lock()
        self.records = Records()
        self._endpoints_per_user = endpoints_per_user
        self._purchases = purchases if purchases is not None else self.default_purchases
        self._catalog_size = catalog_size

    def recommended_items(self, user_id: str, count: int) -> list[str]:
        start = _stable_int(user_id)
        return [
            f"P{(start + rank) % self._catalog_size:05d}" for rank in range(min(count, self._catalog_size))
        ]

    def default_purchases(self, user_id: str) -> list[str]:
        """Every other user bought their top recommended item (so "minus purchased" has work to do)."""
        return self.recommended_items(user_id, 1) if _stable_int(user_id) % 2 == 0 else []

    def endpoints_of(self, user_id: str) -> int:
        return self._endpoints_per_user(user_id)

    def handle(self, call: CallType, request: RecordedRequest) -> Reply:
        handlers: dict[CallType, Callable[[RecordedRequest], Reply]] = {
            CallType.PUT_EVENTS: self._put_events,
            CallType.GET_RECOMMENDATIONS: self._get_recommendations,
            CallType.PROFILE_TRAITS: self._profile_traits,
            CallType.SEGMENT_BATCH: self._segment_batch,
            CallType.GET_USER_ENDPOINTS: self._get_user_endpoints,
            CallType.UPDATE_ENDPOINTS_BATCH: self._update_endpoints_batch,
            CallType.SEND_MESSAGE_BATCH: self._send_message_batch,
        }
        return handlers[call](request)

    def _put_events(self, request: RecordedRequest) -> Reply:
        body = request.json()
        key = str(body.get("userId") or body.get("sessionId"))
        ids = [str(event.get("eventId")) for event in body.get("eventList", [])]
        with self.lock:
            self.records.events.setdefault(key, []).extend(ids)
        return Reply(200, {})

    def _get_recommendations(self, request: RecordedRequest) -> Reply:
        body = request.json()
        user_id = str(body.get("userId") or body.get("itemId"))
        count = int(body.get("numResults") or 25)
        with self.lock:
            self.records.recommendations[user_id] = self.records.recommendations.get(user_id, 0) + 1
        items = self.recommended_items(user_id, count)
        return Reply(
            200,
            {
                "itemList": [
                    {"itemId": item, "score": round(1.0 / (rank + 2), 6)} for rank, item in enumerate(items)
                ],
                "recommendationId": f"RID-{_stable_int(user_id) % 10**12:012d}",
            },
        )

    def _profile_traits(self, request: RecordedRequest) -> Reply:
        profile = unquote(request.path.split("/")[-2])
        user_id = profile.split(":", 1)[1] if profile.startswith("user_id:") else profile
        with self.lock:
            self.records.profile_reads[profile] = self.records.profile_reads.get(profile, 0) + 1
        traits = {PURCHASED_TRAIT: list(self._purchases(user_id))}
        return Reply(200, {"traits": traits, "cursor": {"url": "", "has_more": False, "next": ""}})

    def _segment_batch(self, request: RecordedRequest) -> Reply:
        batch = request.json().get("batch", [])
        found = [
            Identify(
                str(m.get("messageId")),
                str(m.get("userId")),
                dict(m.get("traits") or {}),
                m.get("anonymousId") if isinstance(m.get("anonymousId"), str) else None,
            )
            for m in batch
            if m.get("type") == "identify"
        ]
        with self.lock:
            self.records.identifies.extend(found)
        return Reply(200, {"success": True})

    def _get_user_endpoints(self, request: RecordedRequest) -> Reply:
        user_id = unquote(request.path.split("/")[5])
        count = self.endpoints_of(user_id)
        if count == 0:
            return Reply(
                404,
                {"Message": "Resource not found", "RequestID": str(uuid.uuid4())},
                {"Content-Type": "application/json", "x-amzn-ErrorType": "NotFoundException"},
            )
        items = [
            {
                "Id": f"{user_id}-ep{index}",
                "ChannelType": "EMAIL" if index == 0 else "SMS",
                "User": {"UserId": user_id, "UserAttributes": {EXISTING_ATTRIBUTE: ["shoes"]}},
            }
            for index in range(count)
        ]
        return Reply(200, {"Item": items})

    def _update_endpoints_batch(self, request: RecordedRequest) -> Reply:
        items = request.json().get("Item", [])
        with self.lock:
            for item in items:
                self.records.endpoint_updates.append(item)
                attributes = (item.get("User") or {}).get("UserAttributes") or {}
                self.records.endpoint_attributes[str(item.get("Id"))] = attributes
        return Reply(202, {"Message": "Accepted", "RequestID": str(uuid.uuid4())})

    def _send_message_batch(self, request: RecordedRequest) -> Reply:
        body = request.json()
        queue_url = str(body.get("QueueUrl"))
        successful = []
        with self.lock:
            for entry in body.get("Entries", []):
                text = str(entry.get("MessageBody", ""))
                attributes = dict(entry.get("MessageAttributes") or {})
                self.records.dead_letters.append(SqsMessage(queue_url, text, attributes))
                successful.append(
                    {
                        "Id": entry.get("Id"),
                        "MessageId": str(uuid.uuid4()),
                        "MD5OfMessageBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                    }
                )
        return Reply(
            200, {"Successful": successful, "Failed": []}, {"Content-Type": "application/x-amz-json-1.0"}
        )
