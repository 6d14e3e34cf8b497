"""Event sources as Lambda drives them, from the transformed template's resources.

- ``KinesisMapping`` (AWS::Lambda::EventSourceMapping): reads the moto stream from its StartingPosition,
  BatchSize records at a time, and delivers them through ``tests.support.lambda_retry`` (partial failures
  with ReportBatchItemFailures, bisection with BisectBatchOnFunctionError, MaximumRetryAttempts); records
  older than MaximumRecordAgeInSeconds are given up unread; what is given up goes to the OnFailure destination
  as Lambda's own record (tests/samples/lambda/kinesis_on_failure_record.json). Its reads and the
  destination send are recorded as calls Lambda makes with the function's role.
- ``scheduled_event``, ``http_api_event``: the EventBridge and API Gateway (payload 2.0) events.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.lambda_retry import LambdaRetryEmulator, sequence_of

Invoke = Callable[[dict[str, Any]], tuple[Mapping[str, Any] | None, None]]


class KinesisMapping:
    def __init__(self, properties: Mapping[str, Any], stream: str, role_arn: str, clients: Any) -> None:
        self.properties = properties
        self.stream = stream  # the stream's name in moto
        self.stream_arn = str(properties["EventSourceArn"])
        self.role_arn = role_arn
        self.kinesis = clients("kinesis")
        self.sqs = clients("sqs")
        self.platform_calls: list[tuple[str, str, str]] = []  # (who, action, resource)
        self.iterators: dict[str, str] = {}
        self.discarded: list[dict[str, Any]] = []

    def _platform(self, action: str, resource: str) -> None:
        self.platform_calls.append(("the event source mapping", action, resource))

    def enable(self) -> None:
        """The mapping starts: an iterator per shard at StartingPosition (LATEST: the tip, now)."""
        self._platform("kinesis:DescribeStream", self.stream_arn)
        self._platform("kinesis:ListShards", self.stream_arn)
        for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]:
            self._platform("kinesis:GetShardIterator", self.stream_arn)
            self.iterators[shard["ShardId"]] = self.kinesis.get_shard_iterator(
                StreamName=self.stream,
                ShardId=shard["ShardId"],
                ShardIteratorType=self.properties["StartingPosition"],
            )["ShardIterator"]

    def poll(self, invoke: Invoke) -> list[str]:
        """Deliver every record waiting in the stream; the sequence numbers given up on."""
        size = int(self.properties.get("BatchSize", 100))
        emulator = LambdaRetryEmulator(
            invoke
            if "ReportBatchItemFailures" in self.properties.get("FunctionResponseTypes", [])
            else _ignore(invoke),
            max_retry_attempts=int(self.properties.get("MaximumRetryAttempts", -1)),
            batch_size=size,
            bisect_on_error=bool(self.properties.get("BisectBatchOnFunctionError", False)),
        )
        abandoned: list[str] = []
        for shard, iterator in self.iterators.items():
            self._platform("kinesis:GetRecords", self.stream_arn)
            page = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            self.iterators[shard] = page["NextShardIterator"]
            records = [self._lambda_record(shard, r) for r in page["Records"]]
            too_old = [
                r
                for r in records
                if self._age(r) > int(self.properties.get("MaximumRecordAgeInSeconds", -1)) >= 0
            ]
            if too_old:
                self._discard(shard, too_old, "RecordAgeExceeded")
            fresh = [r for r in records if r not in too_old]
            if not fresh:
                continue
            outcome = emulator.run({"Records": fresh})
            given_up = [r for r in fresh if sequence_of(r) in set(outcome.abandoned)]
            if given_up:
                self._discard(shard, given_up, "RetryAttemptsExhausted")
            abandoned += outcome.abandoned
        return abandoned

    def _lambda_record(self, shard: str, record: Mapping[str, Any]) -> dict[str, Any]:
        arrival = record["ApproximateArrivalTimestamp"]
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": record["SequenceNumber"],
                "data": base64.b64encode(record["Data"]).decode("ascii"),
                "approximateArrivalTimestamp": arrival.timestamp(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{record['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self.role_arn,
            "awsRegion": "us-east-1",
            "eventSourceARN": self.stream_arn,
        }

    @staticmethod
    def _age(record: Mapping[str, Any]) -> float:
        return time.time() - float(record["kinesis"]["approximateArrivalTimestamp"])

    def _discard(self, shard: str, records: list[dict[str, Any]], condition: str) -> None:
        destination = self.properties["DestinationConfig"]["OnFailure"]["Destination"]
        first, last = records[0]["kinesis"], records[-1]["kinesis"]
        message = {
            "requestContext": {"condition": condition, "approximateInvokeCount": 1},
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "KinesisBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first["sequenceNumber"],
                "endSequenceNumber": last["sequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["approximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(last["approximateArrivalTimestamp"]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self._platform("sqs:SendMessage", destination)
        queue = destination.rsplit(":", 1)[1]
        url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        import json

        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
        self.discarded.append(message)


def _ignore(invoke: Invoke) -> Invoke:
    """Without ReportBatchItemFailures Lambda reads no batchItemFailures: any answer is a success."""

    def plain(event: dict[str, Any]) -> tuple[Mapping[str, Any] | None, None]:
        invoke(event)
        return None, None

    return plain


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "rehearsal-schedule",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": _iso(time.time())[:-5] + "Z",
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }


def http_api_event(method: str, path: str, query: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """An HTTP API payload format 2.0 event for the $default route."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&") if "=" in p),
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "rehearsal",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
