"""deploy/glue-export.yaml and its job script: cfn-lint clean, Glue 5.0 with the pinned Spark, IAM exactly
what the S3 storage calls on exactly the archive, code and output prefixes, and arguments `pue export` takes.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import shlex
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from cfnlint.decode import decode_str  # type: ignore[import-untyped]

from consumers.cli import parser

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "glue-export.yaml"
JOB_SCRIPT = ROOT / "deploy" / "glue" / "pue_export_job.py"
STORAGE = ROOT / "destinations" / "aws" / "s3_archive.py"
# AWS Glue versions -> their Spark (https://docs.aws.amazon.com/glue/latest/dg/release-notes.html).
GLUE_SPARK = {"5.0": "3.5.4"}
# The S3 storage's client calls -> the IAM action each needs, and on which prefix parameter's objects.
CALL_ACTIONS = {
    "list_objects_v2": "s3:ListBucket",
    "get_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "delete_objects": "s3:DeleteObject",  # DeleteObjects is authorized per key as s3:DeleteObject
}
EXAMPLE = {
    "ArchiveBucket": "shop-segment",
    "ArchivePrefix": "segment-logs/src1/",
    "OutputBucket": "shop-personalize",
    "OutputPrefix": "personalize/",
    "CodeBucket": "shop-code",
    "CodePrefix": "pue/glue/",
    "WheelName": "pue-0.1.0-py3-none-any.whl",
    "ExportArguments": "--user-fields plan --item-fields category,price",
}


@functools.cache
def template() -> dict[str, Any]:
    parsed, problems = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not problems, [str(p) for p in problems]
    return dict(parsed)


def substituted(value: Any) -> str:
    """A ``!Sub`` string with the example parameters (and the partition) filled in."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    names = {**EXAMPLE, "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def statements() -> dict[str, dict[str, Any]]:
    role = template()["Resources"]["ExportJobRole"]["Properties"]
    (policy,) = role["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def job_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pue_export_job", JOB_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cfn_lint_is_clean() -> None:
    matches = lint(TEMPLATE.read_text(encoding="utf-8"), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_the_job_runs_glue_5_with_the_spark_the_tests_pin_and_pue_from_its_wheel() -> None:
    job = template()["Resources"]["ExportJob"]["Properties"]
    assert job["GlueVersion"] == "5.0" and job["Command"]["Name"] == "glueetl"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pin = f"pyspark=={GLUE_SPARK[job['GlueVersion']]}"
    assert pin in project["optional-dependencies"]["spark"] and pin in project["optional-dependencies"]["dev"]
    # Never a Lambda runtime dependency: the bundle (deploy/requirements.lock) does not grow.
    assert not any(d.startswith("pyspark") for d in project["dependencies"])
    assert "pyspark" not in (ROOT / "deploy" / "requirements.lock").read_text()
    arguments = job["DefaultArguments"]
    assert substituted(job["Command"]["ScriptLocation"]) == "s3://shop-code/pue/glue/pue_export_job.py"
    wheel = substituted(arguments["--additional-python-modules"])
    assert wheel == "s3://shop-code/pue/glue/pue-0.1.0-py3-none-any.whl"
    assert job["MaxRetries"] == 0 and job["ExecutionProperty"]["MaxConcurrentRuns"] == 1


def test_the_job_arguments_are_a_pue_export_command_line_on_the_two_prefixes() -> None:
    arguments = template()["Resources"]["ExportJob"]["Properties"]["DefaultArguments"]
    # What Glue hands the script: its own arguments around the job's parameters.
    pue_args = substituted(arguments["--pue-args"])
    glue_argv = ["--JOB_ID", "j_1", "--pue-args", pue_args, "--JOB_RUN_ID", "jr_1"]
    argv = job_script().export_argv(glue_argv)
    args = parser().parse_args(argv)
    assert args.engine == "spark" and args.paths == ["s3://shop-segment/segment-logs/src1/"]
    assert args.out == "s3://shop-personalize/personalize/datasets"
    assert args.user_fields == ("plan",) and args.item_fields == ("category", "price")
    for key in ("--TempDir", "--spark-event-logs-path"):  # Glue's own files stay under the output prefix
        assert substituted(arguments[key]).startswith("s3://shop-personalize/personalize/")


def test_the_job_script_passes_spark_submit_arguments_through_and_refuses_another_engine() -> None:
    script = job_script()
    assert script.export_argv(["in/", "--out", "o/"]) == ["export", "in/", "--out", "o/", "--engine", "spark"]
    quoted = script.export_argv(["--pue-args", shlex.join(["s3://b/a b/", "--out", "s3://b/o"])])
    assert quoted[1] == "s3://b/a b/"
    with pytest.raises(SystemExit, match="always runs --engine spark"):
        script.export_argv(["in/", "--out", "o/", "--engine", "single"])


def storage_calls() -> set[str]:
    tree = ast.parse(STORAGE.read_text(encoding="utf-8"))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "client"
    }


def test_s3_access_is_exactly_what_the_storage_calls_on_exactly_its_prefixes() -> None:
    assert storage_calls() == set(CALL_ACTIONS)
    granted = statements()
    s3_actions = {
        action
        for statement in granted.values()
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("s3:")
    }
    assert s3_actions == set(CALL_ACTIONS.values())
    expected = {
        "ListTheArchivePrefix": ("arn:aws:s3:::shop-segment", "segment-logs/src1/*"),
        "ListTheOutputPrefix": ("arn:aws:s3:::shop-personalize", "personalize/*"),
    }
    for sid, (bucket, prefix) in expected.items():
        assert substituted(granted[sid]["Resource"]) == bucket
        assert substituted(granted[sid]["Condition"]["StringLike"]["s3:prefix"]) == prefix
    archive = "arn:aws:s3:::shop-segment/segment-logs/src1/*"
    assert substituted(granted["ReadTheArchive"]["Resource"]) == archive
    assert substituted(granted["ReadTheCode"]["Resource"]) == "arn:aws:s3:::shop-code/pue/glue/*"
    write = granted["WriteAndOverwriteTheOutput"]
    assert substituted(write["Resource"]) == "arn:aws:s3:::shop-personalize/personalize/*"
    assert set(write["Action"]) == {"s3:PutObject", "s3:DeleteObject", "s3:GetObject"}


def test_no_wildcard_actions_and_resource_star_only_for_metrics_in_the_glue_namespace() -> None:
    for sid, statement in statements().items():
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all("*" not in action for action in actions), sid
        if statement["Resource"] == "*":
            assert actions == ["cloudwatch:PutMetricData"], sid
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Glue"}}
    logs = substituted(statements()["JobLogs"]["Resource"])
    assert logs == "arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/*"
