"""deploy/template.yaml after SAM CLI's packaging step and the SAM transform, as CloudFormation creates it.

The packaging step is SAM CLI's own (tests/support/sam_package.py, run in .venv-sam): it zips the folder every
function's CodeUri names, as ``sam deploy`` does before it calls CloudFormation, with the template where it
lies in a copy of the repository's layout (deploy/template.yaml, and the folder `make bundle` builds holding a
stand-in file; tests/rehearsal packages a real bundle). A CodeUri naming anything else fails here as it fails
``sam deploy``. For each parameter set: the transform of the packaged template succeeds offline, cfn-lint
finds no error in its output (E3004 is the circular dependency CloudFormation would refuse), the template's
rules accept the values, every Ref, Fn::GetAtt,
Fn::Sub and DependsOn of a resource CloudFormation creates names a resource it creates or a parameter, and
the dependency graph has no cycle.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from tests.support.sam_transform import (
    SAM_PYTHON,
    OfflinePolicyLoader,
    Resolver,
    SamPackage,
    cycle,
    dangling,
    dependencies,
    packaged,
    parse,
    transformed,
    unpackaged_code,
    with_defaults,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
ARN = "arn:aws:{service}:us-east-1:123456789012:{resource}"

# The fewest values CloudFormation accepts: every optional feature stays off.
DEFAULTS = {
    "TrackingId": "0a1b2c3d-tracking",
    "CampaignArn": ARN.format(service="personalize", resource="campaign/pue"),
}
# Every optional feature on, the legacy Pinpoint path included; the stream created by the stack.
EVERYTHING = {
    "TrackingId": "0a1b2c3d-tracking",
    "RecommenderArn": ARN.format(service="personalize", resource="recommender/pue"),
    "FilterArn": ARN.format(service="personalize", resource="filter/pue"),
    "FilterValues": '{"CATEGORY": "\\"shoes\\""}',
    "RelatedItemsCampaignArn": ARN.format(service="personalize", resource="campaign/sims"),
    "CorsOrigins": "https://shop.example.com",
    "PinpointLegacy": "true",
    "PinpointApplicationId": "0123456789abcdef0123456789abcdef",
    "SegmentSpaceId": "spa_123",
    "SegmentWriteKeySecretArn": ARN.format(service="secretsmanager", resource="secret:pue/write-key-AbCdEf"),
    "SegmentProfileTokenSecretArn": ARN.format(service="secretsmanager", resource="secret:pue/token-AbCdEf"),
    "AlarmTopicArn": ARN.format(service="sns", resource="pue-alarms"),
    "AlarmEmail": "oncall@example.com",
    "SegmentExternalId": "wks_0a1b2c3d",
    "StreamRetentionHours": "72",
    "RefreshMinIntervalSeconds": "300",
    "CatalogTableName": "pue-items",
    "CustomerProfilesDomain": "pue-domain",
    "CustomerProfilesCreate": "true",
    "MessageTemplate": "recommendations",
    "KmsKeyArn": ARN.format(service="kms", resource="key/0f6a8c40-0000-11ef-8000-0a1b2c3d4e5f"),
    "ApiReservedConcurrency": "20",
}
# The same, consuming an existing stream (the other side of CreateStream).
EXISTING_STREAM = {**EVERYTHING, "StreamArn": ARN.format(service="kinesis", resource="stream/segment")}
PARAMETER_SETS = {"defaults": DEFAULTS, "everything-on": EVERYTHING, "existing-stream": EXISTING_STREAM}


# What `make bundle` writes to (deploy/bundle.py BUNDLE_DIR), relative to the repository.
BUNDLE_DIR = Path(".aws-sam") / "bundle"
STAND_IN = "consumers/__init__.py"


def package_copy(template_text: str) -> SamPackage:
    """SAM CLI's packaging step on ``template_text`` laid at deploy/template.yaml of a copy of the
    repository's layout whose bundle folder holds one stand-in file."""
    root = Path(tempfile.mkdtemp(prefix="pue-layout-"))
    (root / "deploy").mkdir()
    (root / "deploy" / "template.yaml").write_text(template_text, encoding="utf-8")
    (root / BUNDLE_DIR / "consumers").mkdir(parents=True)
    (root / BUNDLE_DIR / STAND_IN).write_text("# stand-in for make bundle's output\n", encoding="utf-8")
    try:
        return packaged(root / "deploy" / "template.yaml", PARAMETER_SETS)
    finally:
        shutil.rmtree(root)


@functools.cache
def sam_package() -> SamPackage:
    return package_copy(TEMPLATE.read_text(encoding="utf-8"))


@functools.cache
def source() -> dict[str, Any]:
    """The template as ``sam deploy`` hands it to CloudFormation."""
    return sam_package().template()


@functools.cache
def output(name: str) -> dict[str, Any]:
    return transformed(source(), PARAMETER_SETS[name])


def test_the_bundle_folder_is_where_make_bundle_builds() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("pue_bundle", ROOT / "deploy" / "bundle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.BUNDLE_DIR == ROOT / BUNDLE_DIR
    assert "\nbundle: $(BUNDLE_STAMP)" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_sam_cli_packages_every_function_from_the_folder_make_bundle_builds() -> None:
    template = source()
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == 5 and unpackaged_code(template) == {}
    uploads = sam_package().uploads()
    assert {f"s3://pue-artifacts/{u['key']}" for u in uploads} == {
        f["Properties"]["CodeUri"] for f in functions.values()
    }
    for upload in uploads:  # each zip is the bundle folder: its stand-in file at the root of the zip
        with zipfile.ZipFile(sam_package().artifact(upload["key"])) as zipped:
            assert zipped.namelist() == [STAND_IN]


def test_a_code_uri_outside_the_bundle_fails_packaging_as_sam_deploy_does() -> None:
    # The fault of v0.1.0: RefreshSweepFunction's CodeUri named a folder nothing builds.
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "      Handler: consumers.refresh_sweep_handler.handler\n",
        "      CodeUri: ../.aws-sam/pue-src\n      Handler: consumers.refresh_sweep_handler.handler\n",
    )
    assert "pue-src" in text
    broken = package_copy(text)
    assert broken.returncode == 1
    assert "RefreshSweepFunction refers to a file or folder that does not exist" in broken.stderr


def test_the_guided_deploy_asks_about_authentication_for_the_api_alone() -> None:
    # SAM CLI's guided deploy asks "<function> has no authentication. Is this okay? [y/N]" for a function with
    # an HttpApi event and no Auth (samcli/commands/deploy/auth_utils.py); the API checks x-api-key itself
    # (consumers/api.py), so the answer is y (deploy/README.md). A non-guided deploy only prints the line.
    assert sam_package().unauthenticated() == dict.fromkeys(PARAMETER_SETS, ["RecommendationsApiFunction"])


def test_every_sam_deploy_option_the_makefile_passes_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    deploy_lines = makefile[makefile.index("SAM_DEPLOY :=") : makefile.index("\nclean:")]
    used = set(re.findall(r"(--[a-z][a-z-]+)", deploy_lines))
    assert {"--guided", "--no-confirm-changeset", "--parameter-overrides"} <= used
    # The options of SAM CLI's deploy command, read from its click definition (`sam deploy --help` would
    # also check PyPI for a newer version and send telemetry: no network in tests).
    listing = (
        "from samcli.commands.deploy.command import cli;"
        "print(*[o for p in cli.params for o in p.opts + p.secondary_opts])"
    )
    done = subprocess.run([str(SAM_PYTHON), "-c", listing], capture_output=True, text=True, check=True)
    assert used - set(done.stdout.split()) == set()


def live(name: str) -> tuple[Resolver, dict[str, dict[str, Any]]]:
    resolver = Resolver(output(name), PARAMETER_SETS[name])
    return resolver, resolver.live_resources()


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_the_parameter_set_passes_the_templates_rules(name: str) -> None:
    assert Resolver(parse(TEMPLATE.read_text(encoding="utf-8")), PARAMETER_SETS[name]).rules_hold() == []


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_the_transformed_template_is_cfn_lint_clean(name: str) -> None:
    text = json.dumps(with_defaults(output(name), PARAMETER_SETS[name]))
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_every_reference_of_a_created_resource_names_a_created_resource_or_a_parameter(name: str) -> None:
    resolver, resources = live(name)
    assert resources
    parameters = output(name)["Parameters"]
    assert dangling(resources, resources, parameters) == []
    outputs = {
        key: resolver.resolve(value)
        for key, value in output(name).get("Outputs", {}).items()
        if "Condition" not in value or resolver.conditions[value["Condition"]]
    }
    assert dangling(outputs, resources, parameters) == []


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_the_dependency_graph_has_no_cycle(name: str) -> None:
    _, resources = live(name)
    assert cycle(dependencies(resources)) == []


def test_the_cycle_check_finds_the_s3_trigger_cycle_sam_users_hit() -> None:
    # The shape of the fault this check exists for: a function triggered by a bucket of the same template
    # whose environment names that bucket (SAM puts the notification on the bucket, which then waits for
    # the function's permission, which waits for the function, which waits for the bucket).
    broken = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Function": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "m.handler",
                    "Runtime": "python3.12",
                    "InlineCode": "def handler(e, c): pass",
                    "Environment": {"Variables": {"BUCKET": {"Ref": "Bucket"}}},
                    "Events": {
                        "Put": {
                            "Type": "S3",
                            "Properties": {"Bucket": {"Ref": "Bucket"}, "Events": "s3:ObjectCreated:*"},
                        }
                    },
                },
            },
        },
    }
    resources = Resolver(transformed(broken, {}), {}).live_resources()
    assert set(cycle(dependencies(resources))) >= {"Bucket", "Function"}
    matches = lint(json.dumps(transformed(broken, {})), config=ManualArgs(regions=["us-east-1"]))
    assert "E3004" in {m.rule.id for m in matches}


def test_the_transform_needs_no_managed_policy_lookup() -> None:
    loader = OfflinePolicyLoader()
    assert transformed(source(), EVERYTHING, loader)["Resources"]
    assert loader.calls == 0


def test_the_transform_refuses_a_template_that_was_not_packaged() -> None:
    with pytest.raises(AssertionError, match="not packaged"):
        transformed(parse(TEMPLATE.read_text(encoding="utf-8")), DEFAULTS)


# ---- moto's CloudFormation -----------------------------------------------------------------------------
# What moto cannot model (docs in deploy/README.md): these types are skipped with a warning; AWS::NoValue
# inside a list is left as null (CloudFormation drops it), which moto's IAM validation then rejects, so the
# defaults set (several optional ARNs absent) cannot be created there; Number parameters are compared as
# numbers in Fn::Equals ("0" != 0), which turns HasRefreshInterval on with the default 0. The sets below set
# every optional ARN, so neither quirk changes what moto creates.
MOTO_UNMODELED = {
    "AWS::CloudWatch::Alarm",
    "AWS::SecretsManager::Secret",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SNS::Subscription",
}


def _create_in_moto(name: str) -> tuple[str, set[str], dict[str, str], dict[str, str]]:
    """(stack status, resource types moto warned it skipped, logical -> physical id of what it created,
    the segment import function's environment) for the transformed template of parameter set ``name``."""
    import io
    import zipfile

    import boto3

    from tests.support.moto_clients import moto_client

    template = output(name)
    with warnings.catch_warnings(record=True) as caught, moto_client("cloudformation") as cloudformation:
        warnings.simplefilter("always")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="pue-artifacts")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("consumers/__init__.py", "")
        functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
        for key in {f["Properties"]["Code"]["S3Key"] for f in functions}:
            s3.put_object(Bucket="pue-artifacts", Key=key, Body=archive.getvalue())
        if "StreamArn" in PARAMETER_SETS[name]:
            boto3.client("kinesis", region_name="us-east-1").create_stream(StreamName="segment", ShardCount=1)
        cloudformation.create_stack(
            StackName="pue",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETER_SETS[name].items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        (stack,) = cloudformation.describe_stacks(StackName="pue")["Stacks"]
        summaries = cloudformation.list_stack_resources(StackName="pue")["StackResourceSummaries"]
        created = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries if r["ResourceType"]}
        function = boto3.client("lambda", region_name="us-east-1").get_function_configuration(
            FunctionName=created["SegmentImportFunction"]
        )
    skipped = {m.group(1) for w in caught if (m := re.search(r"parse (\S+) but", str(w.message)))}
    return stack["StackStatus"], skipped, created, function["Environment"]["Variables"]


@pytest.mark.parametrize("name", ["everything-on", "existing-stream"])
def test_motos_cloudformation_creates_the_transformed_stack(name: str) -> None:
    status, skipped, created, environment = _create_in_moto(name)
    assert status == "CREATE_COMPLETE"
    _, resources = live(name)
    assert skipped == {r["Type"] for r in resources.values()} & MOTO_UNMODELED  # the documented list holds
    assert set(created) == {n for n, r in resources.items() if r["Type"] not in MOTO_UNMODELED}
    # The name the segment import is given is the bucket the stack made, though it never refers to it.
    assert environment["PUE_SEGMENT_IMPORT_BUCKET"] == created["BatchSegmentBucket"]
