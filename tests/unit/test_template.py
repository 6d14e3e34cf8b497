"""deploy/template.yaml: cfn-lint clean, Lambda's stream settings safe, IAM exactly what the code calls."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import json
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from cfnlint.decode import decode_str  # type: ignore[import-untyped]

from consumers.config.secrets import ARN_SUFFIX, SECRET_NAMES
from destinations.aws.clients import SDK_CALL_BUDGET_SECONDS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}

# Handlers whose module another issue is still writing. An entry here is tolerated only while its module is
# missing: once it exists, its handler must import like any other. Empty: consumers.api has landed.
KNOWN_PENDING: set[str] = set()

# IAM action -> the boto3 operation in pue's code it authorizes. Checked against the source both ways below.
CODE_ACTIONS = {
    "personalize:PutEvents": "put_events",
    "personalize:GetRecommendations": "get_recommendations",
    "mobiletargeting:GetUserEndpoints": "get_user_endpoints",
    "mobiletargeting:UpdateEndpointsBatch": "update_endpoints_batch",
    "sqs:SendMessage": "send_message_batch",  # SendMessageBatch is authorized as sqs:SendMessage
    "secretsmanager:GetSecretValue": "get_secret_value",
    # pue consume reads the stream itself; in Lambda the event source mapping does, with the same actions.
    "kinesis:DescribeStreamSummary": "describe_stream_summary",
    "kinesis:ListShards": "list_shards",
    "kinesis:GetShardIterator": "get_shard_iterator",
    "kinesis:GetRecords": "get_records",
    # Engagement paths (docs/engagement.md), each granted only under its parameter's condition.
    "profile:SearchProfiles": "search_profiles",
    "profile:UpdateProfile": "update_profile",
    "profile:CreateProfile": "create_profile",
    "profile:AddProfileKey": "add_profile_key",
    "dynamodb:BatchGetItem": "batch_get_item",
    "dynamodb:UpdateItem": "update_item",  # an owed refresh, the purchase ledger (issue 13)
    "dynamodb:Query": "query",  # the sweep of owed refreshes
    "dynamodb:PutItem": "put_item",
    "dynamodb:DeleteItem": "delete_item",
    "mobiletargeting:SendUsersMessages": "send_users_messages",
    "mobiletargeting:CreateImportJob": "create_import_job",
    "mobiletargeting:GetImportJob": "get_import_job",
    "s3:GetObject": "get_object",
    "s3:PutObject": "put_object",
}
# Operations the deployed handlers can reach but only call when a setting the template does not set turns
# their feature on (consumers/config/engagement_settings.py). Setting one in the template means granting its
# actions. Empty: the template now wires every engagement path (each off while its parameter is empty).
OFF_UNLESS_SET: dict[str, str] = {}
# Actions Lambda itself performs with the function's role, not pue's code.
PLATFORM_ACTIONS = {
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    # https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html (standard iterators)
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    # CreateImportJob hands Pinpoint a role (RoleArn): IAM checks iam:PassRole on the caller, and Pinpoint
    # lists the import folder with that role.
    # https://docs.aws.amazon.com/pinpoint/latest/developerguide/permissions-import-segment.html
    "iam:PassRole",
    "s3:ListBucket",
    # With a customer-managed key (KmsKeyArn), Kinesis and Secrets Manager decrypt with the caller's
    # permission: https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html and
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
    "kms:Decrypt",
}
# What the role Segment's Kinesis destination assumes may do (SegmentProducerRole): write the stream, check
# its own grant, and encrypt with a customer-managed key. No pue code runs with it.
# https://segment.com/docs/connections/destinations/catalog/amazon-kinesis/
PRODUCER_ACTIONS = {
    "kinesis:PutRecord",
    "kinesis:PutRecords",
    "iam:SimulatePrincipalPolicy",
    "kms:GenerateDataKey",
}
# The services pue's code calls; their operation names (snake_case, as boto3 spells them) identify client
# calls in the source whatever the client variable is called (self._pinpoint.create_import_job(...)).
CALLED_SERVICES = (
    "personalize-events",
    "personalize-runtime",
    "pinpoint",
    "sqs",
    "secretsmanager",
    "kinesis",
    "s3",
    "dynamodb",
    "customer-profiles",
)


@functools.cache
def template() -> dict[str, Any]:
    parsed, problems = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not problems, [str(p) for p in problems]
    return dict(parsed)


def resources_of(*types: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] in types}


def branches(value: Any) -> Iterator[Any]:
    """Every value ``value`` can take: both sides of each Fn::If, AWS::NoValue dropped, lists flattened."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        yield from branches(value["Fn::If"][1])
        yield from branches(value["Fn::If"][2])
    elif isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return
    elif isinstance(value, list):
        for item in value:
            yield from branches(item)
    else:
        yield value


def allow_statements() -> list[dict[str, Any]]:
    statements = []
    for role in resources_of("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
        properties = role["Properties"]
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
        for document in documents:
            for statement in branches(document["Statement"]):
                if statement["Effect"] == "Allow" and "Principal" not in statement:
                    statements.append(statement)
    return statements


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


@functools.cache
def service_operations() -> frozenset[str]:
    session = botocore.session.get_session()
    return frozenset(
        xform_name(operation)
        for service in CALLED_SERVICES
        for operation in session.get_service_model(service).operation_names
    )


def client_operations(paths: Iterable[Path]) -> set[str]:
    """Method calls in ``paths`` named like an operation of a service pue calls (``x.put_events(...)``)."""
    operations = service_operations()
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in operations:
                    found.add(node.func.attr)
    return found


def all_sources() -> list[Path]:
    return [path for layer in ("consumers", "destinations") for path in (ROOT / layer).rglob("*.py")]


def source_of(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable_sources(roots: Iterable[str]) -> set[Path]:
    """pue's modules that ``roots`` import, directly or not, at module level or inside functions."""
    seen: set[Path] = set()
    pending = list(roots)
    while pending:
        path = source_of(pending.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                pending.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pending.append(node.module)
                pending.extend(f"{node.module}.{alias.name}" for alias in node.names)  # submodules
    return seen


def handler_modules() -> list[str]:
    handlers = (f["Properties"]["Handler"] for f in resources_of(*FUNCTION_TYPES).values())
    return [handler.rpartition(".")[0] for handler in handlers]


@functools.cache
def iam_reference() -> dict[str, Any]:
    """The Service Authorization Reference as cfn-lint ships it: service prefix -> actions and resources."""
    data = resources.files("cfnlint.data.AdditionalSpecs").joinpath("Policies.json").read_text()
    return dict(json.loads(data))


def test_cfn_lint_is_clean() -> None:
    matches = lint(TEMPLATE.read_text(encoding="utf-8"), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_the_event_source_mapping_reports_failures_bisects_and_gives_up_in_bounded_time() -> None:
    function = template()["Resources"]["KinesisConsumerFunction"]["Properties"]
    assert function["Handler"] == "consumers.kinesis.handler"
    assert function["Runtime"] == "python3.12" and function["Architectures"] == ["arm64"]
    (event,) = function["Events"].values()
    assert event["Type"] == "Kinesis"
    mapping = event["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    parameters = template()["Parameters"]
    for name in ("BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor"):
        assert mapping[name] == {"Ref": name}
    # -1 means "forever" for both: the parameters must not allow it, and must stay within Lambda's ranges.
    retries = parameters[mapping["MaximumRetryAttempts"]["Ref"]]
    assert 0 <= retries["MinValue"] <= retries["Default"] <= retries["MaxValue"] <= 10_000
    age = parameters[mapping["MaximumRecordAgeInSeconds"]["Ref"]]
    assert 60 <= age["MinValue"] <= age["Default"] <= age["MaxValue"] <= 604_800
    assert (
        parameters["ParallelizationFactor"]["MaxValue"] <= 10
        and parameters["BatchSize"]["MaxValue"] <= 10_000
    )
    target = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert target["Fn::GetAtt"][1] == "Arn"
    assert template()["Resources"][target["Fn::GetAtt"][0]]["Type"] == "AWS::SQS::Queue"


def test_the_dead_letter_queue_is_encrypted_kept_14_days_and_given_to_the_consumer() -> None:
    variables = template()["Resources"]["KinesisConsumerFunction"]["Properties"]["Environment"]["Variables"]
    queue_name = variables["PUE_DEAD_LETTER_QUEUE_URL"]["Ref"]
    for queue in resources_of("AWS::SQS::Queue").values():
        properties = queue["Properties"]
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue_name in resources_of("AWS::SQS::Queue")


def test_secrets_are_passed_by_reference_only_and_every_variable_is_one_pue_reads() -> None:
    known: set[object] = set()
    for path in (ROOT / "consumers").rglob("*settings.py"):
        known |= {
            node.value
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant)
        }
    secret_arns = {name + ARN_SUFFIX for name in SECRET_NAMES}
    secret_sources = set(template()["Parameters"]) | set(resources_of("AWS::SecretsManager::Secret"))
    for name, function in resources_of(*FUNCTION_TYPES).items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert not set(variables) & set(SECRET_NAMES), f"{name} carries a secret in plain text"
        for variable, value in variables.items():
            assert variable in known or variable in secret_arns, f"{name}: nothing reads {variable}"
            if variable in secret_arns:
                assert value["Ref"] in secret_sources


def test_no_wildcard_actions_and_resource_star_only_where_iam_offers_no_resource() -> None:
    statements = allow_statements()
    assert statements
    for statement in statements:
        for action in actions_of(statement):
            assert "*" not in action, f"wildcard action {action}"
            service, name = action.split(":")
            entry = iam_reference()[service]["Actions"].get(name.lower())
            assert entry is not None, f"{action} is not an IAM action"
            if "*" in list(branches(statement["Resource"])):
                assert not entry.get("Resources"), f"{action} supports resource-level permissions: scope it"


def test_every_granted_action_is_one_the_code_or_lambda_uses() -> None:
    granted = {action for statement in allow_statements() for action in actions_of(statement)}
    assert granted - set(CODE_ACTIONS) - PLATFORM_ACTIONS - PRODUCER_ACTIONS == set()


def test_every_operation_in_the_action_table_is_called_by_the_code() -> None:
    assert set(CODE_ACTIONS.values()) - client_operations(all_sources()) == set()


def test_every_client_call_the_deployed_handlers_can_reach_is_granted() -> None:
    reached = client_operations(reachable_sources(handler_modules()))
    # A new call on the Lambda path needs its IAM action in CODE_ACTIONS and in the template, unless its
    # feature stays off in the deployment (OFF_UNLESS_SET).
    assert reached - set(CODE_ACTIONS.values()) - set(OFF_UNLESS_SET) == set()
    variables = {
        v for f in resources_of(*FUNCTION_TYPES).values() for v in f["Properties"]["Environment"]["Variables"]
    }
    switched_on = {op: var for op, var in OFF_UNLESS_SET.items() if op in reached and var in variables}
    assert switched_on == {}, "the template turns these on: grant them and move them to CODE_ACTIONS"
    granted = {action for statement in allow_statements() for action in actions_of(statement)}
    needed = {action for action, operation in CODE_ACTIONS.items() if operation in reached}
    assert needed - granted == set()


def test_every_handler_imports() -> None:
    for name, function in resources_of(*FUNCTION_TYPES).items():
        handler = function["Properties"]["Handler"]
        module_name, _, attribute = handler.rpartition(".")
        assert module_name.split(".")[0] == "consumers", f"{name}: handlers live in consumers/"
        if importlib.util.find_spec(module_name) is None and handler in KNOWN_PENDING:
            continue
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute, None)), f"{name}: {handler} is not callable"


# ---- hardening (issue 12) ------------------------------------------------------------------------------
# Event sources that invoke a function asynchronously (Lambda's own retries, then EventInvokeConfig).
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html
ASYNC_EVENT_TYPES = {"S3", "SNS", "EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2", "IoTRule"}
# HTTP API (payload 2.0) integrations time out after 30 s at most.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
HTTP_API_INTEGRATION_TIMEOUT_SECONDS = 30


def test_every_function_has_an_errors_and_a_throttles_alarm_that_exists_with_it() -> None:
    alarms = resources_of("AWS::CloudWatch::Alarm").values()
    for name, function in resources_of(*FUNCTION_TYPES).items():
        watching = [  # metric-math alarms (no Namespace) and other namespaces are someone else's
            a
            for a in alarms
            if a["Properties"].get("Namespace") == "AWS/Lambda"
            and {"Name": "FunctionName", "Value": {"Ref": name}} in a["Properties"].get("Dimensions", [])
        ]
        assert {a["Properties"]["MetricName"] for a in watching} >= {"Errors", "Throttles"}, name
        assert all(a.get("Condition") == function.get("Condition") for a in watching), name


def test_every_asynchronously_invoked_function_sends_what_lambda_gives_up_on_to_a_queue() -> None:
    asynchronous = {
        name: f
        for name, f in resources_of("AWS::Serverless::Function").items()
        if {e["Type"] for e in f["Properties"].get("Events", {}).values()} & ASYNC_EVENT_TYPES
    }
    assert asynchronous  # the segment import (S3)
    for name, function in asynchronous.items():
        config = function["Properties"]["EventInvokeConfig"]
        assert 0 <= config["MaximumRetryAttempts"] <= 2
        on_failure = config["DestinationConfig"]["OnFailure"]
        queue = on_failure["Destination"]["Fn::GetAtt"][0]
        assert on_failure["Type"] == "SQS" and queue in resources_of("AWS::SQS::Queue"), name
        role = template()["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
        granted = [
            st
            for policy in role["Properties"]["Policies"]
            for st in branches(policy["PolicyDocument"]["Statement"])
            if "sqs:SendMessage" in actions_of(st)
        ]
        assert [st["Resource"] for st in granted] == [{"Fn::GetAtt": [queue, "Arn"]}], name


def test_dead_letters_survive_stack_deletion_and_replacement() -> None:
    resources = template()["Resources"]
    for name in ("DeadLetterQueue", "DiscardedBatchesQueue", "DeadLetterBucket"):
        assert resources[name]["DeletionPolicy"] == resources[name]["UpdateReplacePolicy"] == "Retain", name


# ---- a stack that keeps data and says when it is hurt (issue 21) -------------------------------------------
DATA_TYPES = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Kinesis::Stream", "AWS::SQS::Queue")
PIPELINE_FUNCTIONS = ("KinesisConsumerFunction", "RecommendationsApiFunction", "RefreshSweepFunction")


def test_every_table_bucket_stream_and_queue_survives_stack_deletion_and_replacement() -> None:
    holding = resources_of(*DATA_TYPES)
    assert {"PurchaseLedgerTable", "RefreshLedgerTable", "SegmentStream", "BatchSegmentBucket"} <= set(
        holding
    )
    for name, resource in holding.items():
        assert resource.get("DeletionPolicy") == resource.get("UpdateReplacePolicy") == "Retain", name


def test_every_ledger_table_has_point_in_time_recovery() -> None:
    tables = resources_of("AWS::DynamoDB::Table")
    assert {"PurchaseLedgerTable", "RefreshLedgerTable", "MessageLedgerTable"} <= set(tables)
    for name, table in tables.items():
        recovery = table["Properties"].get("PointInTimeRecoverySpecification", {})
        assert recovery.get("PointInTimeRecoveryEnabled") is True, name


def test_the_purchase_ledger_exists_whatever_the_parameters_and_every_pipeline_function_uses_it() -> None:
    resources = template()["Resources"]
    # v0.1.0 made it conditional on no Profile API token: setting the token later deleted the table.
    assert "Condition" not in resources["PurchaseLedgerTable"]
    assert "Condition" not in resources["PurchaseLedgerPolicy"]
    roles = list(branches(resources["PurchaseLedgerPolicy"]["Properties"]["Roles"]))
    for name in PIPELINE_FUNCTIONS:
        properties = resources[name]["Properties"]
        variables = properties["Environment"]["Variables"]
        assert variables["PUE_PURCHASE_LEDGER_TABLE"] == {"Ref": "PurchaseLedgerTable"}, name
        assert {"Ref": properties["Role"]["Fn::GetAtt"][0]} in roles, name
    (statement,) = resources["PurchaseLedgerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert set(actions_of(statement)) == {"dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    assert statement["Resource"] == {"Fn::GetAtt": ["PurchaseLedgerTable", "Arn"]}


def test_every_alarm_notifies_a_topic_the_stack_creates_unless_one_is_given() -> None:
    alarms = resources_of("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 17
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [
            {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}
        ], name
    resources, conditions = template()["Resources"], template()["Conditions"]
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert conditions["CreateAlarmTopic"] == {"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template()["Parameters"]["AlarmEmail"]["Default"] == ""
    assert "AlarmTopicArn" in template()["Outputs"]


def test_segment_can_be_given_a_role_to_write_the_stream_with_its_external_id() -> None:
    role = template()["Resources"]["SegmentProducerRole"]
    assert role["Condition"] == "CreateProducerRole"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    # Segment's account role, as its Amazon Kinesis destination docs give it.
    assert trust["Principal"] == {"AWS": "arn:aws:iam::595280932656:role/customer-kinesis-access"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "SegmentExternalId"}}}
    (policy,) = role["Properties"]["Policies"]
    statements = list(branches(policy["PolicyDocument"]["Statement"]))
    write = next(st for st in statements if "kinesis:PutRecords" in actions_of(st))
    assert set(actions_of(write)) == {"kinesis:PutRecord", "kinesis:PutRecords"}
    stream = template()["Resources"]["KinesisConsumerFunction"]["Properties"]["Events"]["SegmentStream"]
    assert write["Resource"] == stream["Properties"]["Stream"]
    output = template()["Outputs"]["SegmentProducerRoleArn"]
    assert output["Condition"] == "CreateProducerRole"
    assert output["Value"] == {"Fn::GetAtt": ["SegmentProducerRole", "Arn"]}


def test_the_stream_keeps_a_discarded_batch_readable_longer_than_a_weekend() -> None:
    # A discarded batch is a pointer (shard, sequence range); pue redrive re-reads its records until the
    # stream expires them. The window is the retention minus the records' age when Lambda gave up on them.
    parameters = template()["Parameters"]
    stream = template()["Resources"]["SegmentStream"]["Properties"]
    assert stream["RetentionPeriodHours"] == {"Ref": "StreamRetentionHours"}
    window = (
        parameters["StreamRetentionHours"]["Default"] * 3600
        - parameters["MaximumRecordAgeInSeconds"]["Default"]
    )
    assert window >= 2 * 24 * 3600
    assert (
        24 <= parameters["StreamRetentionHours"]["MinValue"]
        and parameters["StreamRetentionHours"]["MaxValue"] <= 8760
    )


def test_the_api_outlasts_one_sdk_call_and_fits_the_http_api_timeout() -> None:
    api = template()["Resources"]["RecommendationsApiFunction"]["Properties"]
    assert SDK_CALL_BUDGET_SECONDS < api["Timeout"] < HTTP_API_INTEGRATION_TIMEOUT_SECONDS


def test_the_api_can_reserve_concurrency_and_does_not_by_default() -> None:
    api = template()["Resources"]["RecommendationsApiFunction"]["Properties"]
    assert api["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasApiReservedConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template()["Parameters"]["ApiReservedConcurrency"]["Default"] == 0
    assert template()["Conditions"]["HasApiReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, "0"]}]
    }


def _statements_with(action: str) -> list[tuple[dict[str, Any], Any]]:
    """(statement, its condition) for every statement granting ``action``: the Fn::If it sits under, else the
    condition of the role or policy holding it (None when it is always granted)."""
    found = []
    for role in resources_of("AWS::IAM::Role", "AWS::IAM::ManagedPolicy").values():
        properties = role["Properties"]
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        documents += [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
        for document in documents:
            for entry in document["Statement"]:
                condition = entry["Fn::If"][0] if "Fn::If" in entry else role.get("Condition")
                for statement in branches(entry):
                    if action in actions_of(statement):
                        found.append((statement, condition))
    return found


def test_kms_decrypt_is_granted_only_with_a_key_and_only_on_that_key_through_the_services() -> None:
    granted = _statements_with("kms:Decrypt")
    assert granted
    for statement, condition in granted:
        assert condition == "HasKmsKey" and statement["Resource"] == {"Ref": "KmsKeyArn"}
        assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}
    assert template()["Parameters"]["KmsKeyArn"]["Default"] == ""
    stream = template()["Resources"]["SegmentStream"]["Properties"]["StreamEncryption"]
    assert stream["KeyId"] == {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, "alias/aws/kinesis"]}


def test_pinpoint_is_a_legacy_path_off_by_default_behind_its_own_switch() -> None:
    parameters, conditions = template()["Parameters"], template()["Conditions"]
    assert parameters["PinpointLegacy"]["Default"] == "false"
    assert {"Fn::Equals": [{"Ref": "PinpointLegacy"}, "true"]} in conditions["HasPinpoint"]["Fn::And"]
    resources = template()["Resources"]
    legacy = {name for name, r in resources.items() if r.get("Condition") in ("HasPinpoint", "HasMessages")}
    assert {
        "CampaignHookFunction",
        "SegmentImportFunction",
        "BatchSegmentBucket",
        "PinpointImportRole",
    } <= legacy
    assert conditions["HasMessages"]["Fn::And"][1] == {"Condition": "HasPinpoint"}
    always_on = {
        "PipelinePolicy",
        "KinesisConsumerFunction",
        "RecommendationsApiFunction",
        "RefreshSweepFunction",
    }
    for name, resource in resources.items():
        text = json.dumps(resource)
        if "mobiletargeting" in text or "PinpointApplicationId" in text:
            assert name in legacy | always_on, f"{name} reaches Pinpoint without the legacy switch"
    for action in ("mobiletargeting:UpdateEndpointsBatch", "mobiletargeting:SendUsersMessages"):
        conditions_seen = {condition for _, condition in _statements_with(action)}
        assert conditions_seen and conditions_seen <= {"HasPinpoint", "HasMessages"}, action
    for name in always_on - {"PipelinePolicy"}:
        variable = resources[name]["Properties"]["Environment"]["Variables"]["PINPOINT_APPLICATION_ID"]
        assert variable == {"Fn::If": ["HasPinpoint", {"Ref": "PinpointApplicationId"}, ""]}


def test_deploy_readme_names_every_parameter_of_the_template() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in row.split("|")[1].replace("`", " ").replace(",", " ").split()}
    assert set(template()["Parameters"]) - named == set()


def test_the_outputs_name_everything_pue_redrive_needs() -> None:
    """``pue redrive`` reads only the stack's own stream and bucket (issue 23.4): the operator gets both."""
    outputs = template()["Outputs"]
    assert outputs["DeadLetterBucketName"]["Value"] == {"Ref": "DeadLetterBucket"}
    assert {"StreamArn", "DeadLetterQueueUrl", "DiscardedBatchesQueueUrl"} <= set(outputs)
