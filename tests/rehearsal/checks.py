"""What the rehearsal fails on, each from raw records of the run (tests/rehearsal/__init__.py).

- ``environment``: a variable pue's code read that the function's template entry does not set;
- ``permissions``: a call (the code's, or Lambda's on the function's behalf) its role does not allow, decided
  by moto's IAM policy evaluation (``moto.iam.access_control.IAMPolicy``: the same code moto's server uses
  to authorize requests; Action/NotAction, Resource/NotResource, wildcards, explicit Deny). Conditions are
  not evaluated, so a statement under a condition counts as granting: it can hide a missing grant, never
  invent a denial;
- ``alarms``: an alarm on a metric (namespace, name, dimensions) nothing in the run emitted;
- ``wiring``: a function whose code, handler or event source points at nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult

from tests.rehearsal.stack import Stack, arn

# Variables Lambda itself sets in every function's environment.
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
LAMBDA_SETS = frozenset(
    {
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_EXECUTION_ENV",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "_HANDLER",
        "TZ",
        "LANG",
        "PATH",
        "LD_LIBRARY_PATH",
    }
)
# The one thing the harness adds (tests/rehearsal/run.py): where AWS and Segment are. Unset on Lambda, where
# botocore and pue use the services' public endpoints.
HARNESS_ENDPOINTS = ("AWS_ENDPOINT_URL", "SEGMENT_API_HOST", "SEGMENT_PROFILE_API_HOST")
# Settings pue reads that the template leaves unset on purpose, each at its documented default. Anything
# else read and not set by the template fails the rehearsal: a variable the code needs and the template
# forgot (v0.1.0's API function, PUE_PURCHASE_LEDGER_TABLE) reads as unset, the feature silently off.
ONLY_USER = "read by every settings parse; set on its only user, the {}"
DEFAULTS_ON_PURPOSE = {
    "PUE_EVENT_MAP": "the default event map (docs/event-map.md)",
    "PUE_STATE_DIR": "the local backend's folder; unused with PUE_BACKEND=aws",
    "PUE_MAX_WORKERS": "the default per-user pool (the campaign hook alone sets it)",
    "PUE_METRICS": "EMF metrics on by default",
    "PUE_METRICS_NAMESPACE": "namespace pue, which the alarms name",
    "PUE_METRICS_DIMENSIONS": "dimension function = the Lambda function's name, which the alarms name",
    "PERSONALIZE_NUM_RESULTS": "the default list length",
    "PUE_FILTERS": "no named filters (deploy/README.md: each needs its ARN granted)",
    "PUE_API_CACHE_ENTRIES": "the API's default cache size",
    "PUE_CATALOG_KEY": "the catalog's default key, read with PUE_CATALOG_TABLE",
    "PUE_CATALOG_FIELDS": "the catalog's default fields",
    "PUE_CATALOG_RANKS": "the catalog's default ranks",
    "PUE_CAMPAIGN_HOOK_TIMEOUT_SECONDS": ONLY_USER.format("campaign hook"),
    "PUE_MESSAGE_LOCAL_BODY": "the local backend's message body; unused with PUE_BACKEND=aws",
    # Issue 23 (on main): per-key token buckets of the API. On Lambda each container keeps its own bucket, so
    # the stack-wide limit is the HTTP API's throttling (RecommendationsHttpApi DefaultRouteSettings).
    "PUE_RATE_LIMIT": "the API's default per-key rate, per container (docs/api.md)",
    "PUE_EVENTS_RATE_LIMIT": "the API's default per-key POST /events rate, per container (docs/api.md)",
    "PUE_SEGMENT_IMPORT_BUCKET": ONLY_USER.format("segment import"),
    "PUE_SEGMENT_IMPORT_PREFIX": ONLY_USER.format("segment import"),
    "PUE_SEGMENT_IMPORT_ROLE_ARN": ONLY_USER.format("segment import"),
    "PUE_SEGMENT_IMPORT_WAIT_SECONDS": ONLY_USER.format("segment import"),
}


# The legacy Pinpoint functions parse the same settings as the pipeline (Settings, EngagementSettings), so
# they read the pipeline's sinks and ledgers too, which their code never builds (consumers/bootstrap/hooks.py
# wires a recommender, the Profile API purchases and the catalog only): left unset on them on purpose.
PIPELINE_ONLY = frozenset(
    {
        "PINPOINT_APPLICATION_ID",
        "PERSONALIZE_FILTER_ARN",
        "PERSONALIZE_FILTER_VALUES",
        "PUE_CATALOG_TABLE",
        "PUE_CUSTOMER_PROFILES_CREATE",
        "PUE_CUSTOMER_PROFILES_DOMAIN",
        "PUE_CUSTOMER_PROFILES_KEY",
        "PUE_CUSTOMER_PROFILES_ANONYMOUS_KEY",
        "PUE_DEAD_LETTER_BUCKET",
        "PUE_MESSAGE_CHANNEL",
        "PUE_MESSAGE_LEDGER_TABLE",
        "PUE_MESSAGE_QUIET_PERIOD_SECONDS",
        "PUE_MESSAGE_TEMPLATE",
        "PUE_PURCHASE_LEDGER_TABLE",
        "PUE_REFRESH_LEDGER_TABLE",
        "PUE_REFRESH_MIN_INTERVAL_SECONDS",
        "PUE_REFRESH_ANONYMOUS",
        "SEGMENT_PROFILE_TOKEN",
        "SEGMENT_SPACE_ID",
        "SEGMENT_WRITE_KEY",
    }
)
LEGACY_HANDLERS = ("consumers.campaign_hook.handler", "consumers.segment_import.handler")


def environment_problems(
    function: str, template_env: Mapping[str, str], reads: Iterable[str], handler: str = ""
) -> list[str]:
    secret_filled = {
        name.removesuffix("_SECRET_ARN") for name in template_env if name.endswith("_SECRET_ARN")
    }
    allowed = set(template_env) | LAMBDA_SETS | secret_filled | set(DEFAULTS_ON_PURPOSE)
    if handler in LEGACY_HANDLERS:
        allowed |= PIPELINE_ONLY
    return [
        f"{function}: the code reads {name}, which its template entry does not set"
        for name in sorted(set(reads) - allowed)
        if not name.startswith(HARNESS_ENDPOINTS)
    ]


# ---- permissions ---------------------------------------------------------------------------------------
IAM_PREFIX = {
    "personalize-events": "personalize",
    "personalize-runtime": "personalize",
    "customer-profiles": "profile",
    "pinpoint": "mobiletargeting",
}
# Operations authorized as another action (https://docs.aws.amazon.com/service-authorization/).
AUTHORIZED_AS = {("sqs", "SendMessageBatch"): "sqs:SendMessage"}


def requested(call: Mapping[str, Any], stack: Stack) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs one recorded SDK call needs."""
    service, operation, params = call["service"], call["operation"], call["params"]
    action = AUTHORIZED_AS.get((service, operation), f"{IAM_PREFIX.get(service, service)}:{operation}")
    if service == "sqs":
        return [(action, arn("sqs", params["QueueUrl"].rstrip("/").rsplit("/", 1)[1]))]
    if service == "dynamodb":
        tables = params.get("RequestItems") or [params["TableName"]]
        index = f"/index/{params['IndexName']}" if "IndexName" in params else ""
        return [(action, arn("dynamodb", f"table/{table}{index}")) for table in tables]
    if service == "s3":
        return [(action, f"arn:aws:s3:::{params['Bucket']}/{params.get('Key', '')}")]
    if service == "secretsmanager":
        return [(action, params["SecretId"])]
    if service == "personalize-runtime":
        targets = [params[k] for k in ("campaignArn", "recommenderArn", "filterArn") if k in params]
        return [(action, target) for target in targets]
    if service == "customer-profiles":
        return [(action, arn("profile", f"domains/{params['DomainName']}"))]
    if service == "pinpoint":
        needs = [(action, arn("mobiletargeting", f"apps/{params['ApplicationId']}"))]
        if "RoleArn" in params.get("ImportJobRequest", {}):  # IAM checks iam:PassRole on the caller
            needs.append(("iam:PassRole", params["ImportJobRequest"]["RoleArn"]))
        return needs
    return [(action, "*")]  # personalize-events PutEvents has no resource type


def role_policies(stack: Stack, role: str) -> list[dict[str, Any]]:
    """The policy documents attached to ``role`` in the stack: inline, managed (of the stack), and
    AWS::IAM::Policy resources naming it."""
    properties = stack.resources[role]["Properties"]
    documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
    managed = {
        stack.physical[n]: r for n, r in stack.resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"
    }
    for policy_arn in stack.value(properties.get("ManagedPolicyArns", [])):
        documents.append(managed[policy_arn]["Properties"]["PolicyDocument"])
    for resource in stack.resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            if stack.physical[role] in stack.value(resource["Properties"]["Roles"]):
                documents.append(resource["Properties"]["PolicyDocument"])
    return [stack.value(document) for document in documents]


def permission_problems(
    function: str, role: str, needs: Iterable[tuple[str, str, str]], stack: Stack
) -> list[str]:
    """``needs``: (who, action, resource). A need no statement of the role allows is a problem."""
    policies = [IAMPolicy(json.dumps(document)) for document in role_policies(stack, role)]
    problems = []
    for who, action, resource in sorted(set(needs)):
        results = [policy.is_action_permitted(action, resource) for policy in policies]
        if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results:
            problems.append(
                f"{function} ({role}): {who} needs {action} on {resource}, which the role does not allow"
            )
    return problems


# ---- alarms --------------------------------------------------------------------------------------------
# Metrics AWS services publish by themselves, by namespace, and what their dimension must name.
AWS_METRICS = {
    "AWS/Lambda": ({"Errors", "Throttles", "IteratorAge", "Invocations", "Duration"}, "FunctionName"),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, "QueueName"),
}


def emitted_metrics(lines: Iterable[str]) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric, dimensions) of every CloudWatch embedded metric format document in ``lines``."""
    found = set()
    for line in lines:
        start = line.find("{")
        if start == -1 or '"_aws"' not in line:
            continue
        try:
            document = json.loads(line[start:])
        except ValueError:
            continue
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive.get("Dimensions", [[]]):
                dimensions = frozenset((d, str(document[d])) for d in dimension_set)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def watched_metrics(stack: Stack) -> list[tuple[str, str, str, frozenset[tuple[str, str]]]]:
    """(alarm, namespace, metric, dimensions) of every metric an alarm of the stack reads."""
    watched = []
    for name, resource in stack.resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = stack.value(resource["Properties"])
        stats = [m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in properties:
            stats.append(properties)
        for metric in stats:
            dimensions = frozenset((d["Name"], str(d["Value"])) for d in metric.get("Dimensions", []))
            watched.append((name, metric["Namespace"], metric["MetricName"], dimensions))
    return watched


def alarm_problems(stack: Stack, emitted: set[tuple[str, str, frozenset[tuple[str, str]]]]) -> list[str]:
    functions = {
        stack.physical[n] for n, r in stack.resources.items() if r["Type"] == "AWS::Lambda::Function"
    }
    queues = {
        stack.attributes[n]["QueueName"] for n, r in stack.resources.items() if r["Type"] == "AWS::SQS::Queue"
    }
    problems = []
    for alarm, namespace, metric, dimensions in watched_metrics(stack):
        if namespace in AWS_METRICS:
            names, dimension = AWS_METRICS[namespace]
            targets = functions if namespace == "AWS/Lambda" else queues
            values = {v for d, v in dimensions if d == dimension}
            if metric in names and values and values <= targets:
                continue
        elif (namespace, metric, dimensions) in emitted:
            continue
        shown = ", ".join(f"{d}={v}" for d, v in sorted(dimensions))
        problems.append(
            f"{alarm} watches {namespace} {metric} ({shown}), which nothing in the rehearsal emitted"
        )
    return problems
