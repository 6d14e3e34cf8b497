"""The rehearsal's checks (tests/rehearsal/checks.py) on small hand-made inputs: each finds what it exists for
and lets the right thing through. The whole rehearsal runs in `make rehearse`."""

from __future__ import annotations

import json
from typing import Any

from tests.rehearsal import checks
from tests.rehearsal.stack import Stack

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:pue-DeadLetterQueue"


def tiny_stack(statements: list[dict[str, Any]], alarm: dict[str, Any]) -> Stack:
    template = {
        "Parameters": {},
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [{"PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]
                },
            },
            "Function": {"Type": "AWS::Lambda::Function", "Properties": {}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": alarm},
        },
    }
    stack = Stack(template, {}, clients=None)
    stack.physical = {
        "Role": "pue-Role",
        "Function": "pue-Function",
        "Queue": "http://q/pue-Queue",
        "Alarm": "a",
    }
    stack.attributes = {"Queue": {"QueueName": "pue-Queue", "Arn": QUEUE_ARN}, "Role": {}, "Function": {}}
    return stack


def emf(namespace: str, metric: str, function: str) -> str:
    document = {
        "_aws": {
            "CloudWatchMetrics": [
                {"Namespace": namespace, "Dimensions": [["function"]], "Metrics": [{"Name": metric}]}
            ]
        },
        "function": function,
        metric: 1,
    }
    return json.dumps(document)


def test_a_variable_the_code_reads_and_the_template_does_not_set_is_a_problem() -> None:
    template_env = {"PUE_BACKEND": "aws", "SEGMENT_WRITE_KEY_SECRET_ARN": "arn:aws:secretsmanager:..."}
    reads = ["PUE_BACKEND", "SEGMENT_WRITE_KEY", "AWS_REGION", "AWS_ENDPOINT_URL_SQS", "PUE_EVENT_MAP"]
    assert checks.environment_problems("F", template_env, reads) == []
    problems = checks.environment_problems("F", template_env, [*reads, "PUE_PURCHASE_LEDGER_TABLE"])
    assert problems == ["F: the code reads PUE_PURCHASE_LEDGER_TABLE, which its template entry does not set"]


def test_a_call_the_role_does_not_allow_is_a_problem() -> None:
    send = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE_ARN}
    call = {
        "service": "sqs",
        "operation": "SendMessageBatch",
        "params": {"QueueUrl": "http://h/1/pue-DeadLetterQueue"},
    }
    stack = tiny_stack([send], {})
    needs = [("the code", action, resource) for action, resource in checks.requested(call, stack)]
    assert needs == [("the code", "sqs:SendMessage", QUEUE_ARN)]
    assert checks.permission_problems("F", "Role", needs, stack) == []
    other = {**send, "Resource": QUEUE_ARN + "-other"}
    assert len(checks.permission_problems("F", "Role", needs, tiny_stack([other], {}))) == 1
    denied = {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"}
    assert len(checks.permission_problems("F", "Role", needs, tiny_stack([send, denied], {}))) == 1


def test_an_alarm_on_a_metric_nothing_emitted_is_a_problem() -> None:
    alarm = {
        "Namespace": "pue",
        "MetricName": "deployment_faults",
        "Dimensions": [{"Name": "function", "Value": {"Ref": "Function"}}],
    }
    stack = tiny_stack([], alarm)
    emitted = checks.emitted_metrics(["START", emf("pue", "deployment_faults", "pue-Function")])
    assert checks.alarm_problems(stack, emitted) == []
    renamed = checks.emitted_metrics([emf("pue", "deploy_faults", "pue-Function")])
    assert len(checks.alarm_problems(stack, renamed)) == 1
    lambda_alarm = {**alarm, "Namespace": "AWS/Lambda", "MetricName": "Errors"}
    lambda_alarm["Dimensions"] = [{"Name": "FunctionName", "Value": {"Ref": "Function"}}]
    assert checks.alarm_problems(tiny_stack([], lambda_alarm), set()) == []
    lambda_alarm["Dimensions"] = [{"Name": "FunctionName", "Value": "someone-else"}]
    assert len(checks.alarm_problems(tiny_stack([], lambda_alarm), set())) == 1
