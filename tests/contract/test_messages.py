"""Real-time message sink contract: the local twin and Pinpoint SendUsersMessages (with a DynamoDB ledger)
behave alike: one message per refreshed user, at most one per quiet period, never twice for one refresh.

Cloud side: a real botocore Pinpoint client whose SendUsersMessages is answered by a stub that records each
request (botocore still validates it) and reports the delivery status set per user; the ledger is a moto
DynamoDB table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from destinations.aws.message_ledger import DynamoMessageLedger
from destinations.aws.pinpoint_messages import PinpointMessageSink
from destinations.engagement_content import DetailSpec
from destinations.local.messages import LocalMessageSink, messages_for, render
from destinations.local.store import LocalStore
from destinations.ports import RecommendationSink
from schemas.delivery import DeliveryReport
from schemas.errors import PermanentError
from schemas.recommendation import Recommendation
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.contract.test_recommendation_sinks import rec

APP_ID = "pinpoint-app-1"
QUIET = 3600
DETAILS = DetailSpec(ranks=2, fields={"name": "NAME"})
CATALOG = {"p1": {"NAME": "Trail Shoe"}, "p2": {"NAME": "Rain Jacket"}}


class DictCatalog:
    def items(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        return {i: dict(CATALOG[i]) for i in item_ids if i in CATALOG}


class MessageHarness(Protocol):
    sink: RecommendationSink
    now: float

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport: ...

    def sent(self, user_id: str) -> list[dict[str, list[str]]]:
        """The substitutions of every message the user got, oldest first."""


class LocalHarness:
    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self.now = 1_800_000_000.0
        self.sink: RecommendationSink = LocalMessageSink(
            store,
            template="recs",
            quiet_seconds=QUIET,
            catalog=DictCatalog(),
            details=DETAILS,
            body="Hi! {{Attributes.recommended_item_1_name}} and {{recommended_item_2_name}}",
            clock=lambda: self.now,
        )

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return self.sink.publish(recommendations)

    def sent(self, user_id: str) -> list[dict[str, list[str]]]:
        return [m["substitutions"] for m in reversed(messages_for(self.store, user_id, limit=100))]


class PinpointHarness:
    def __init__(self, ledger_client: Any, *, table: str = "ledger") -> None:
        self.client = boto3.client(
            "pinpoint", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        self.now = 1_800_000_000.0
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[tuple[str, dict[str, list[str]]]] = []  # (user, substitutions) that arrived
        self.status: dict[str, str] = {}  # user -> DeliveryStatus of their endpoint (default SUCCESSFUL)
        self.fail_call: Exception | None = None
        self.client.meta.events.register("before-call.pinpoint.SendUsersMessages", self._answer)
        self.ledger_client = ledger_client
        self.sink: RecommendationSink = self.new_sink(table)

    def new_sink(self, table: str = "ledger") -> PinpointMessageSink:
        return PinpointMessageSink(
            self.client,
            APP_ID,
            DynamoMessageLedger(self.ledger_client, table),
            template="recs",
            channel="EMAIL",
            quiet_seconds=QUIET,
            catalog=DictCatalog(),
            details=DETAILS,
            clock=lambda: self.now,
        )

    def _answer(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.loads(params["body"])
        self.requests.append(body)
        if self.fail_call is not None:
            error, self.fail_call = self.fail_call, None
            raise error
        result = {
            user: {f"{user}-ep": {"DeliveryStatus": self.status.get(user, "SUCCESSFUL"), "StatusCode": 200}}
            for user in body["Users"]
        }
        for user, configuration in body["Users"].items():
            if self.status.get(user, "SUCCESSFUL") == "SUCCESSFUL":
                self.delivered.append((user, configuration["Substitutions"]))
        response = {"SendUsersMessageResponse": {"ApplicationId": APP_ID, "RequestId": "r", "Result": result}}
        return AWSResponse("https://stub.invalid", 200, {}, None), response

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        return self.sink.publish(recommendations)

    def sent(self, user_id: str) -> list[dict[str, list[str]]]:
        return [substitutions for user, substitutions in self.delivered if user == user_id]


def ledger_table(client: Any, name: str = "ledger") -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        ledger_table(client)
        yield client


@pytest.fixture(params=["local", "aws"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageHarness]:
    if request.param == "local":
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield LocalHarness(store)
        store.close()
    else:
        client = request.getfixturevalue("dynamodb")
        yield PinpointHarness(client)


def test_each_refreshed_user_gets_one_message_with_the_recommendations(harness: MessageHarness) -> None:
    assert harness.sink.name == "messages"
    assert harness.publish([rec("alice", "p1", "p9", "p2"), rec("bob", "p2")]).ok
    [alice] = harness.sent("alice")
    assert alice[RECOMMENDED_PRODUCTS] == ["p1", "p9", "p2"]
    assert alice["recommended_item_1_name"] == ["Trail Shoe"] and alice["recommended_item_2_id"] == ["p2"]
    [bob] = harness.sent("bob")
    assert bob["recommended_item_1_name"] == ["Rain Jacket"]
    assert bob["recommended_item_2_name"] == [
        ""
    ]  # every variable has a value, or the template would not render


def test_a_redelivered_batch_sends_nothing_more_even_after_the_quiet_period(harness: MessageHarness) -> None:
    batch = [rec("alice", "p1")]
    assert harness.publish(batch).ok
    assert harness.publish(batch).ok
    harness.now += QUIET + 1
    assert harness.publish(batch).ok
    assert len(harness.sent("alice")) == 1


def test_at_most_one_message_per_quiet_period(harness: MessageHarness) -> None:
    assert harness.publish([rec("alice", "p1", cause="evt-1")]).ok
    harness.now += QUIET - 1
    assert harness.publish([rec("alice", "p2", cause="evt-2")]).ok
    assert len(harness.sent("alice")) == 1
    harness.now += 2
    assert harness.publish([rec("alice", "p2", cause="evt-3")]).ok
    assert [s[RECOMMENDED_PRODUCTS] for s in harness.sent("alice")] == [["p1"], ["p2"]]


def test_nothing_to_recommend_sends_nothing(harness: MessageHarness) -> None:
    assert harness.publish([rec("alice"), rec("bob", "p1")]).ok
    assert harness.sent("alice") == [] and len(harness.sent("bob")) == 1


def test_a_list_without_a_user_fails_alone(harness: MessageHarness) -> None:
    report = harness.publish([rec("", "p1"), rec("alice", "p2")])
    assert set(report.failed) == {""} and isinstance(report.failed[""], PermanentError)
    assert report.failed[""].code == "NoUserId"
    assert len(harness.sent("alice")) == 1


# -- local specifics -----------------------------------------------------------------------------------


def test_the_local_message_is_rendered_for_pue_profile(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "pue.sqlite3") as store:
        local = LocalHarness(store)
        assert local.publish([rec("alice", "p2", "p1")]).ok
        [message] = messages_for(store, "alice")
        assert message["body"] == "Hi! Rain Jacket and Trail Shoe"
        assert (message["template"], message["channel"]) == ("recs", "EMAIL")
    assert render("{{ x }}/{{Attributes.y}}/{{z}}", {"x": ["1", "2"], "y": ["3"]}) == "1, 2/3/"


# -- Pinpoint specifics --------------------------------------------------------------------------------


def test_the_request_names_the_template_and_channel(dynamodb: Any) -> None:
    cloud = PinpointHarness(dynamodb)
    assert cloud.publish([rec("alice", "p1")]).ok
    [request] = cloud.requests
    assert request["TemplateConfiguration"] == {"EmailTemplate": {"Name": "recs"}}
    assert request["MessageConfiguration"] == {"EmailMessage": {}}
    assert request["Users"]["alice"]["Context"]["pue_recommendation_id"] == "RID-alice"


def test_users_are_sent_at_most_100_per_call(dynamodb: Any) -> None:
    cloud = PinpointHarness(dynamodb)
    assert cloud.publish([rec(f"user-{n}", "p1") for n in range(250)]).ok
    assert [len(r["Users"]) for r in cloud.requests] == [100, 100, 50]


def test_a_transient_failure_is_retryable_and_the_retry_sends(dynamodb: Any) -> None:
    cloud = PinpointHarness(dynamodb)
    cloud.status["alice"] = "THROTTLED"
    report = cloud.publish([rec("alice", "p1"), rec("bob", "p1")])
    assert set(report.failed) == {"alice"} and report.failed["alice"].retryable
    del cloud.status["alice"]
    assert cloud.publish([rec("alice", "p1"), rec("bob", "p1")]).ok
    assert len(cloud.sent("alice")) == 1 and len(cloud.sent("bob")) == 1


def test_a_permanent_failure_is_not_retried(dynamodb: Any) -> None:
    cloud = PinpointHarness(dynamodb)
    cloud.status["alice"] = "PERMANENT_FAILURE"
    report = cloud.publish([rec("alice", "p1")])
    assert not report.failed["alice"].retryable
    assert cloud.publish([rec("alice", "p1")]).ok
    assert len(cloud.requests) == 1


def test_a_failed_call_fails_its_users_and_frees_them_for_the_retry(dynamodb: Any) -> None:
    from botocore.exceptions import ClientError

    cloud = PinpointHarness(dynamodb)
    error = {"Error": {"Code": "TooManyRequestsException"}, "ResponseMetadata": {"HTTPStatusCode": 429}}
    cloud.fail_call = ClientError(error, "SendUsersMessages")
    report = cloud.publish([rec("alice", "p1"), rec("bob", "p1")])
    assert set(report.failed) == {"alice", "bob"} and report.failed["bob"].retryable
    assert cloud.publish([rec("alice", "p1"), rec("bob", "p1")]).ok
    assert [sorted(r["Users"]) for r in cloud.requests] == [["alice", "bob"], ["alice", "bob"]]


def test_two_processes_sharing_the_ledger_send_once(dynamodb: Any) -> None:
    cloud = PinpointHarness(dynamodb)
    other_process = cloud.new_sink()
    assert cloud.publish([rec("alice", "p1")]).ok
    assert other_process.publish([rec("alice", "p2", cause="evt-2")]).ok
    assert len(cloud.requests) == 1
