"""docs/reliability.md, "Who must act": every row of the error table, driven through its adapter inside a real
``Pipeline``, ends the record where the table says.

AWS adapters run on boto3 clients under botocore's ``Stubber`` (the error is the service's own code and HTTP
status); the Segment adapters talk to the loopback HTTP receiver. The other ports are the scriptable fakes.
A row the test cannot drive fails: the table and the code cannot drift apart.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from botocore.stub import Stubber

from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import BatchResult, Pipeline, RefreshOptions
from destinations.aws.customer_profiles import CustomerProfilesSink
from destinations.aws.personalize_events import PersonalizeEventTracker
from destinations.aws.personalize_runtime import PersonalizeRecommender
from destinations.aws.pinpoint import PinpointEndpointSink
from destinations.aws.purchase_ledger import DynamoPurchaseLedger
from destinations.aws.s3_dead_letter_payloads import S3DeadLetterPayloads
from destinations.aws.sqs_dead_letters import SqsDeadLetterSink
from destinations.segment.personas import PersonasTraitSink
from destinations.segment.profile_api import ProfileApiPurchaseHistory
from schemas.limits import SQS_MESSAGE_MAX_BYTES
from tests import factories
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker
from tests.support.http_receiver import HttpReceiver, Reply

DOC: Final = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
CAMPAIGN: Final = "arn:aws:personalize:us-east-1:000000000000:campaign/c"
QUEUE: Final = "https://sqs.us-east-1.amazonaws.com/000000000000/dlq"
OUTCOMES: Final = (
    "retried",
    "retried, deployment fault",
    "dead-lettered",
    "processed, refresh rejected",
    "processed",
)


@dataclass(frozen=True)
class Row:
    adapter: str
    operation: str
    code: str
    status: int
    outcome: str

    @property
    def id(self) -> str:
        return f"{self.adapter}-{self.operation}-{self.code}-{self.status}"


def table_rows() -> list[Row]:
    text = DOC.read_text(encoding="utf-8")
    body = text.split("<!-- error-table:start -->")[1].split("<!-- error-table:end -->")[0]
    rows = []
    for line in body.strip().splitlines()[2:]:
        adapter, operation, error, _who, outcome = (cell.strip() for cell in line.strip("|").split("|"))
        found = re.fullmatch(r"(?:(\S+) )?\(?(\d{3})\)?", error)
        assert found, f"cannot read the error cell {error!r}"
        code, status = found.group(1) or found.group(2), int(found.group(2))
        assert outcome in OUTCOMES, f"unknown outcome {outcome!r}"
        rows.append(Row(adapter, operation, code, status, outcome))
    return rows


ROWS: Final = table_rows()


@dataclass
class Wiring:
    """The ports of one pipeline; ``subject_poison`` when the row's subject is a poison record."""

    tracker: Any = field(default_factory=FakeTracker)
    recommender: Any = field(default_factory=FakeRecommender)
    sinks: list[Any] = field(default_factory=list)
    dead_letters: Any = field(default_factory=FakeDeadLetters)
    purchases: Any = None
    purchase_ledger: Any = None
    messages: list[Any] = field(default_factory=list)
    subject_poison: bool = False
    checks: list[Any] = field(default_factory=list)  # called after the batch: the failing call was made


def _stubbed(stack: ExitStack, service: str) -> tuple[Any, Stubber]:
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = stack.enter_context(Stubber(client))
    return client, stubber


def _fail(stubber: Stubber, method: str, row: Row) -> None:
    stubber.add_client_error(method, service_error_code=row.code, http_status_code=row.status)


VIEW: Final = factories.segment_track("Product Viewed", user_id="u1", properties={"product_id": "p1"})
ORDER: Final = factories.segment_track(
    "Order Completed", user_id="u1", properties={"products": [{"sku": "p9"}]}
)


@contextmanager
def wired(row: Row) -> Iterator[Wiring]:  # noqa: C901 - one branch per adapter of the table, on purpose
    wiring = Wiring(messages=[VIEW])
    with ExitStack() as stack:
        adapter, operation = row.adapter, row.operation
        if adapter == "personalize-events":
            client, stubber = _stubbed(stack, "personalize-events")
            _fail(stubber, "put_events", row)
            wiring.tracker = PersonalizeEventTracker(client, "tid")
            wiring.checks.append(stubber.assert_no_pending_responses)
        elif adapter == "personalize-runtime":
            client, stubber = _stubbed(stack, "personalize-runtime")
            _fail(stubber, "get_recommendations", row)
            wiring.recommender = PersonalizeRecommender(client, campaign_arn=CAMPAIGN)
            wiring.checks.append(stubber.assert_no_pending_responses)
        elif adapter == "pinpoint":
            client, stubber = _stubbed(stack, "pinpoint")
            if operation == "UpdateEndpointsBatch":
                stubber.add_response("get_user_endpoints", {"EndpointsResponse": {"Item": [{"Id": "u1-ep"}]}})
            _fail(
                stubber,
                "get_user_endpoints" if operation == "GetUserEndpoints" else "update_endpoints_batch",
                row,
            )
            wiring.sinks.append(PinpointEndpointSink(client, "app"))
            wiring.checks.append(stubber.assert_no_pending_responses)
        elif adapter == "customer-profiles":
            client, stubber = _stubbed(stack, "customer-profiles")
            if operation == "UpdateProfile":
                stubber.add_response("search_profiles", {"Items": [{"ProfileId": "p-1"}]})
            if operation == "CreateProfile":
                stubber.add_response("search_profiles", {"Items": []})
            method = {"SearchProfiles": "search_profiles", "UpdateProfile": "update_profile"}.get(
                operation, "create_profile"
            )
            _fail(stubber, method, row)
            wiring.sinks.append(CustomerProfilesSink(client, "domain", create_missing=True))
            wiring.checks.append(stubber.assert_no_pending_responses)
        elif adapter in ("sqs", "s3"):
            sqs, sqs_stubber = _stubbed(stack, "sqs")
            overflow = None
            if adapter == "s3":
                s3, s3_stubber = _stubbed(stack, "s3")
                _fail(s3_stubber, "put_object", row)
                overflow = S3DeadLetterPayloads(s3, "bucket")
                wiring.checks.append(s3_stubber.assert_no_pending_responses)
                # Random-looking bytes over the SQS limit even gzipped: the whole record goes to S3.
                poison = random.Random(13).randbytes(SQS_MESSAGE_MAX_BYTES + 1024)
            else:
                _fail(sqs_stubber, "send_message_batch", row)
                wiring.checks.append(sqs_stubber.assert_no_pending_responses)
                poison = b"not json at all"
            wiring.dead_letters = SqsDeadLetterSink(sqs, QUEUE, overflow=overflow)
            wiring.messages = [poison]
            wiring.subject_poison = True
        elif adapter == "dynamodb (purchase ledger)":
            client, stubber = _stubbed(stack, "dynamodb")
            if operation == "BatchGetItem":
                stubber.add_response("update_item", {})
            _fail(stubber, "update_item" if operation == "UpdateItem" else "batch_get_item", row)
            wiring.purchase_ledger = DynamoPurchaseLedger(client, "purchases")
            wiring.messages = [ORDER]
            wiring.checks.append(stubber.assert_no_pending_responses)
        elif adapter in ("segment (Personas)", "segment-profile-api"):
            receiver = stack.enter_context(HttpReceiver())
            reply = Reply(row.status, {"error": {"code": "from_the_table", "message": "scripted"}})
            if adapter == "segment (Personas)":
                receiver.script("/v1/batch", reply)
                wiring.sinks.append(PersonasTraitSink("write-key-for-the-table", host=receiver.url))
                path = "/v1/batch"
            else:
                receiver.route("/v1/spaces/*", lambda _request: reply)
                wiring.purchases = ProfileApiPurchaseHistory("space", "token", host=receiver.url)
                path = "/v1/spaces/*"
            wiring.checks.append(lambda: _assert_called(receiver, path))
        else:
            raise AssertionError(f"the table names an adapter this test cannot drive: {adapter!r}")
        yield wiring


def _assert_called(receiver: HttpReceiver, path: str) -> None:
    assert receiver.requests_to(path), f"nothing reached {path}"


def run(row: Row) -> tuple[BatchResult, Wiring]:
    with wired(row) as wiring:
        pipeline = Pipeline(
            tracker=wiring.tracker,
            recommender=wiring.recommender,
            sinks=[*wiring.sinks, FakeSink()],
            dead_letters=wiring.dead_letters,
            purchases=wiring.purchases,
            purchase_ledger=wiring.purchase_ledger,
            event_map=EventMap.default(),
            refresh=RefreshOptions(num_results=5),
            max_workers=2,
        )
        try:
            result = pipeline.handle(factories.kinesis_event(wiring.messages)["Records"])
        finally:
            pipeline.close()
        for check in wiring.checks:
            check()
    return result, wiring


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_each_row_ends_the_record_where_the_table_says(row: Row) -> None:
    result, wiring = run(row)
    counts = result.counts
    assert counts.records == 1 and counts.balanced
    failed = bool(result.failed_sequence_numbers)
    expected = {
        "retried": (1, 0, 0, 0, 0),
        "retried, deployment fault": (1, 1, 0, 0, 0),
        "dead-lettered": (0, 0, 1, 0, 0),
        "processed, refresh rejected": (0, 0, 0, 1, 1),
        "processed": (0, 0, 0, 1, 0),
    }[row.outcome]
    got = (
        counts.failed,
        counts.deployment_faults,
        counts.dead_lettered,
        counts.processed,
        counts.refresh_rejected,
    )
    assert got == expected, f"{row.outcome}: (failed, deployment, dead, processed, rejected) = {got}"
    assert failed == (counts.failed == 1)  # reported to Lambda exactly when failed
    assert not wiring.subject_poison or counts.processed == 0


def test_the_table_covers_every_adapter_and_each_kind_of_actor() -> None:
    adapters = {row.adapter for row in ROWS}
    assert len(adapters) == 9
    for adapter in adapters:
        outcomes = {row.outcome for row in ROWS if row.adapter == adapter}
        assert {"retried", "retried, deployment fault"} <= outcomes, adapter


def test_a_deployment_fault_is_logged_once_per_batch(caplog: pytest.LogCaptureFixture) -> None:
    """Ten users meet AccessDenied on PutEvents: one error line naming the cause, ten records retried."""
    row = next(r for r in ROWS if r.adapter == "personalize-events" and r.code == "AccessDeniedException")
    client = boto3.client(
        "personalize-events", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    users = [f"user-{n}" for n in range(10)]
    with Stubber(client) as stubber:
        for _ in users:
            _fail(stubber, "put_events", row)
        pipeline = Pipeline(
            tracker=PersonalizeEventTracker(client, "tid"),
            recommender=FakeRecommender(),
            sinks=[],
            dead_letters=FakeDeadLetters(),
            purchases=None,
            event_map=EventMap.default(),
            refresh=RefreshOptions(num_results=5),
            max_workers=4,
        )
        messages = [
            factories.segment_track("Product Viewed", user_id=u, properties={"product_id": "p"})
            for u in users
        ]
        with caplog.at_level("INFO", logger="pue.pipeline"):
            result = pipeline.handle(factories.kinesis_event(messages)["Records"])
        pipeline.close()
    faults = [r for r in caplog.records if r.getMessage().startswith("deployment fault")]
    assert len(faults) == 1 and faults[0].levelname == "ERROR"
    fields = faults[0].fields  # type: ignore[attr-defined]
    assert fields["records"] == 10
    assert list(fields["causes"]) == [
        "personalize-events: PutEvents failed with HTTP 403 [AccessDeniedException]"
    ]
    assert result.counts.failed == 10 and result.counts.dead_lettered == 0
    assert len(result.failed_sequence_numbers) == 10
