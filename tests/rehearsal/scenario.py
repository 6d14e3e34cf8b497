"""What the rehearsal sends and what it expects, from raw records: the stand-in's requests, moto's tables and
queues, the functions' answers and log lines. Each unmet expectation is a problem in the report."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.rehearsal.sources import http_api_event, scheduled_event
from tests.support.cloud_fake import CallType, FaultRates

if TYPE_CHECKING:
    from tests.rehearsal.run import Rehearsal

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
BUYER, VIEWER, LATE = "rehearsal-buyer", "rehearsal-viewer", "rehearsal-late"
VISITOR = "rehearsal-anonymous-visitor"  # an anonymousId that never identifies (RefreshAnonymous=true)
POISON = b"\x00not a Segment message"


def sample(name: str, user: str, message_id: str) -> dict[str, Any]:
    """A Segment spec sample (tests/samples), for ``user``, with its own message id."""
    message = copy.deepcopy(json.loads((SAMPLES / name).read_text(encoding="utf-8")))
    message["userId"], message["messageId"] = user, message_id
    return dict(message)


def visitor(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` sent by the anonymous ``VISITOR``: no userId."""
    del message["userId"]
    message["anonymousId"] = VISITOR
    return message


class Scenario:
    def __init__(self, rehearsal: Rehearsal) -> None:
        self.r = rehearsal
        self.problems: list[str] = []
        self.checked = 0

    def expect(self, holds: bool, what: str) -> None:
        self.checked += 1
        if not holds:
            self.problems.append(f"outcome: {what}")

    def put(self, *messages: dict[str, Any] | bytes) -> None:
        stream = self.mapping.stream
        records = [
            {
                "Data": m if isinstance(m, bytes) else json.dumps(m).encode("utf-8"),
                "PartitionKey": "poison"
                if isinstance(m, bytes)
                else str(m.get("userId") or m["anonymousId"]),
            }
            for m in messages
        ]
        answer = self.r.client("kinesis").put_records(StreamName=stream, Records=records)
        assert answer["FailedRecordCount"] == 0, answer

    def play(self) -> list[str]:
        self.consumer, self.mapping = self.r.kinesis_mapping()
        self.mapping.enable()
        self.stream_batches()
        self.discarded_batch()
        self.owed_refresh_and_sweep()
        self.api()
        self.batch_segment_output()
        self.campaign_hook()
        for name, need in ((self.consumer, self.mapping.platform_calls),):
            for who, action, resource in need:
                self.r.need(name, who, action, resource)
        return self.problems

    def stream_batches(self) -> None:
        self.put(
            sample("track_product_viewed.json", VIEWER, "rehearsal-1"),
            sample("track_product_viewed.json", BUYER, "rehearsal-2"),
            sample("track_order_completed.json", BUYER, "rehearsal-3"),
            sample("identify.json", VIEWER, "rehearsal-4"),
            sample("page.json", VIEWER, "rehearsal-5"),
            visitor(sample("track_product_viewed.json", VIEWER, "rehearsal-visitor-1")),
            POISON,
        )
        given_up = self.mapping.poll(self.r.invoker(self.consumer))
        self.expect(given_up == [], f"no record given up on a healthy stack, got {given_up}")
        events = self.r.fake.events_by_user()
        self.expect({VIEWER, BUYER} <= set(events), f"PutEvents for both users, got {sorted(events)}")
        traits = {i.user_id: i.traits for i in self.r.fake.identifies()}
        for user in (VIEWER, BUYER):
            self.expect(
                "recommended_products" in traits.get(user, {}), f"a recommended_products trait for {user}"
            )
            attributes = self.r.profiles.attributes_of(user)
            self.expect(len(attributes) > 1, f"a Customer Profiles profile with recommendations for {user}")
        self.anonymous_visitor()
        bought = self.item(self.r.stack.physical["PurchaseLedgerTable"], BUYER)
        self.expect(
            bool(bought.get("items", {}).get("SS")), f"the purchase ledger holds {BUYER}'s order: {bought}"
        )
        letters = self.messages("DeadLetterQueue")
        self.expect(len(letters) == 1, f"one dead letter (the poison record), got {len(letters)}")

    def anonymous_visitor(self) -> None:
        """RefreshAnonymous=true: the visitor's list asked for its anonymousId, sent to Segment in an identify
        with only that id, and kept in Customer Profiles under the anonymous key."""
        self.expect(
            self.r.fake.recommendations_served().get(VISITOR) == 1,
            f"one GetRecommendations for the anonymous visitor, got {self.r.fake.recommendations_served()}",
        )
        sent = [i for i in self.r.fake.identifies() if i.anonymous_id == VISITOR]
        self.expect(
            len(sent) == 1 and sent[0].user_id == "None" and "recommended_products" in sent[0].traits,
            f"one identify with only the visitor's anonymousId and its list, got {sent}",
        )
        keyed = self.r.profiles.attributes_under("pue_anonymous_id", VISITOR)
        self.expect(
            "recommended_products" in keyed,
            f"a visitor profile under pue_anonymous_id with its list: {keyed}",
        )

    def discarded_batch(self) -> None:
        # A deployment fault (Personalize answers AccessDenied): retried, never dead-lettered, then given up
        # by Lambda after MaximumRetryAttempts and sent to the on-failure destination.
        self.r.fake.set_faults({CallType.PUT_EVENTS: FaultRates(denied=1.0)})
        self.put(sample("track_product_viewed.json", LATE, "rehearsal-6"))
        given_up = self.mapping.poll(self.r.invoker(self.consumer))
        self.r.fake.set_faults(None)
        self.expect(len(given_up) == 1, f"the failing record given up after the retries, got {given_up}")
        discarded = [json.loads(m["Body"]) for m in self.messages("DiscardedBatchesQueue")]
        infos = [m.get("KinesisBatchInfo", {}) for m in discarded]
        self.expect(
            [i.get("startSequenceNumber") for i in infos] == given_up,
            f"a discarded-batch pointer to it in DiscardedBatchesQueue, got {infos}",
        )
        self.expect(len(self.messages("DeadLetterQueue")) == 1, "a deployment fault is not dead-lettered")

    def owed_refresh_and_sweep(self) -> None:
        # Within RefreshMinIntervalSeconds of its refresh, the viewer is marked owed; the sweep finds the mark
        # (not yet due) and leaves it.
        self.put(sample("track_product_viewed.json", VIEWER, "rehearsal-7"))
        self.mapping.poll(self.r.invoker(self.consumer))
        row = self.item(self.r.stack.physical["RefreshLedgerTable"], VIEWER)
        self.expect("due_at" in row, f"an owed refresh marked for {VIEWER}: {row}")
        rule = next(n for n, r in self.r.stack.resources.items() if r["Type"] == "AWS::Events::Rule")
        target = self.r.stack.value(self.r.stack.resources[rule]["Properties"]["Targets"][0]["Arn"])
        sweep = next((f for f in self.r.functions if self.r.stack.attributes[f]["Arn"] == target), None)
        self.expect(sweep is not None, f"the schedule's target {target} is a function of the stack")
        if sweep is not None:
            answer = self.r.invoke(
                sweep, scheduled_event(f"arn:aws:events:us-east-1:123456789012:rule/{rule}")
            )
            self.expect(answer.error is None, f"the sweep runs: {answer.error}")
            self.expect(
                "due_at" in self.item(self.r.stack.physical["RefreshLedgerTable"], VIEWER),
                "a mark not due stays",
            )

    def api(self) -> None:
        api = next(n for n, r in self.r.stack.resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api")
        body = json.dumps(self.r.stack.value(self.r.stack.resources[api]["Properties"]["Body"]))
        function = next((f for f in self.r.functions if self.r.stack.attributes[f]["Arn"] in body), None)
        self.expect(function is not None, f"the HTTP API {api} integrates a function of the stack")
        if function is None:
            return
        headers = {"x-api-key": self.r.stack.api_key}
        answer = self.r.invoke(
            function, http_api_event("GET", "/recommendations", f"userId={BUYER}", headers)
        )
        status = (answer.response or {}).get("statusCode")
        self.expect(status == 200, f"GET /recommendations answers 200, got {status} {answer.error or ''}")
        denied = self.r.invoke(function, http_api_event("GET", "/recommendations", f"userId={BUYER}", {}))
        self.expect((denied.response or {}).get("statusCode") == 401, "no x-api-key: 401")

    def batch_segment_output(self) -> None:
        # Personalize writes a batch segment job's output to the bucket; S3 invokes what its notification
        # names when the key passes the notification's filter (asynchronously: Lambda's retries, then the
        # on-failure destination of the function's EventInvokeConfig).
        stack = self.r.stack
        bucket_name = next(
            n for n, r in stack.resources.items() if "NotificationConfiguration" in r["Properties"]
        )
        bucket = stack.physical[bucket_name]
        notification = stack.value(stack.resources[bucket_name]["Properties"]["NotificationConfiguration"])
        (config,) = notification["LambdaConfigurations"]
        rules = {rule["Name"]: rule["Value"] for rule in config["Filter"]["S3Key"]["Rules"]}
        key = f"{rules.get('prefix', '')}rehearsal-job.json.out"
        self.expect(
            key.endswith(rules.get("suffix", "")), f"the output key {key} passes the notification filter"
        )
        lines = [{"input": {"itemId": "item-1"}, "output": {"usersList": [BUYER, VIEWER]}}]
        body = "\n".join(json.dumps(line) for line in lines).encode("utf-8")
        self.r.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        function = next(
            (f for f in self.r.functions if stack.attributes[f]["Arn"] == config["Function"]), None
        )
        self.expect(function is not None, f"the notification's function {config['Function']} is in the stack")
        if function is None:
            return
        event = json.loads(
            (SAMPLES / "engagement" / "s3_object_created_event.json").read_text(encoding="utf-8")
        )
        record = event["Records"][0]["s3"]
        record["bucket"] |= {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
        record["object"] |= {"key": key, "size": len(body)}
        answer = self.invoke_async(function, event)
        self.expect(answer.error is None, f"the segment import runs: {answer.error}")
        jobs = list(self.r.pinpoint_import.jobs.values())
        self.expect(len(jobs) == 1, f"one Pinpoint import job for the one query, got {len(jobs)}")
        for job in jobs:
            location = job["S3Url"].removeprefix(f"s3://{bucket}/")
            csv = self.r.client("s3").get_object(Bucket=bucket, Key=location)["Body"].read().decode()
            self.expect(f"{BUYER}-ep" in csv, f"the import file names the buyer's endpoint: {csv[:200]}")

    def invoke_async(self, function: str, event: dict[str, Any]) -> Any:
        """Lambda's asynchronous invocation: MaximumRetryAttempts more tries, then the on-failure
        destination."""
        configs = [
            self.r.stack.value(r["Properties"])
            for r in self.r.stack.resources.values()
            if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        ]
        config = next(c for c in configs if c["FunctionName"] == self.r.stack.physical[function])
        for _ in range(1 + int(config.get("MaximumRetryAttempts", 2))):
            answer = self.r.invoke(function, event)
            if answer.error is None:
                return answer
        destination = config["DestinationConfig"]["OnFailure"]["Destination"]
        self.r.need(function, "Lambda's asynchronous invocation", "sqs:SendMessage", destination)
        return answer

    def campaign_hook(self) -> None:
        stack = self.r.stack
        hook = "CampaignHookFunction"
        permissions = [
            stack.value(r["Properties"])
            for r in stack.resources.values()
            if r["Type"] == "AWS::Lambda::Permission"
            and "pinpoint" in json.dumps(stack.value(r["Properties"]))
        ]
        self.expect(
            [p["FunctionName"] for p in permissions] == [stack.attributes[hook]["Arn"]],
            f"Pinpoint may invoke the campaign hook: {permissions}",
        )
        event = json.loads((SAMPLES / "engagement" / "campaign_hook_event.json").read_text(encoding="utf-8"))
        event["ApplicationId"] = self.r.stack.parameters["PinpointApplicationId"]
        endpoint_id, endpoint = next(iter(event["Endpoints"].items()))
        endpoint["User"]["UserId"] = BUYER
        event["Endpoints"] = {endpoint_id: endpoint}
        answer = self.r.invoke(hook, event)
        self.expect(answer.error is None, f"the campaign hook runs: {answer.error}")
        attributes = ((answer.response or {}).get(endpoint_id) or {}).get("Attributes", {})
        self.expect(
            len(attributes) > len(endpoint.get("Attributes", {})),
            f"the hook adds recommendations: {attributes}",
        )
        ledger = self.item(self.r.stack.physical["PurchaseLedgerTable"], BUYER)
        bought = set(ledger.get("items", {}).get("SS", []))
        recommended = set(attributes.get("recommended_products", []))
        self.expect(
            bool(bought) and bool(recommended) and not recommended & bought,
            f"the hook leaves out what the ledger says {BUYER} bought"
            f" ({sorted(bought)}): {sorted(recommended)}",
        )

    # ---- reading the emulators ---------------------------------------------------------------------
    def item(self, table: str, user: str) -> dict[str, Any]:
        found = self.r.client("dynamodb").get_item(TableName=table, Key={"user_id": {"S": user}})
        return dict(found.get("Item", {}))

    def messages(self, queue: str) -> list[dict[str, Any]]:
        sqs = self.r.client("sqs")
        url = self.r.stack.physical[queue]
        seen = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return list(seen.get("Messages", []))
