"""The rehearsal itself: package, transform, bring up, drive, record, check (tests/rehearsal/__init__.py)."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.rehearsal import checks
from tests.rehearsal.lambda_host import Invocation, LambdaContainer
from tests.rehearsal.pinpoint import PinpointImportStandIn
from tests.rehearsal.profiles import CustomerProfilesStandIn
from tests.rehearsal.scenario import Scenario
from tests.rehearsal.sources import KinesisMapping
from tests.rehearsal.stack import Stack, Unresolvable
from tests.support.cloud_fake import APPLICATION_ID, CAMPAIGN_ARN, SPACE_ID, TRACKING_ID, CloudFake
from tests.support.sam_transform import ACCOUNT, REGION, packaged, transformed

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".aws-sam" / "rehearsal"
# The AWS services the functions reach on moto, by the name botocore gives AWS_ENDPOINT_URL_<NAME>.
MOTO_SERVICES = ("KINESIS", "SQS", "S3", "DYNAMODB", "SECRETS_MANAGER", "CLOUDWATCH")
STAND_IN_SERVICES = ("PERSONALIZE_EVENTS", "PERSONALIZE_RUNTIME")
PROFILES_DOMAIN = "pue-rehearsal"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    checked: int = 0  # expectations, variables read, calls, alarm metrics, wiring: each passes or fails


class Rehearsal:
    """Everything one run holds: emulators, the stack, the functions' containers and what they recorded."""

    def __init__(self, template: Path, python: str, report: Report) -> None:
        self.template, self.python, self.report = template, python, report
        self.containers: dict[str, LambdaContainer] = {}
        self.env_reads: dict[str, set[str]] = {}
        self.needs: dict[str, set[tuple[str, str, str]]] = {}
        self.functions: dict[str, dict[str, Any]] = {}

    # ---- setup -------------------------------------------------------------------------------------
    def layout(self) -> Path:
        """The template's bytes at deploy/template.yaml of a copy of the repository's layout, and a bundle
        for this machine's CPU where `make bundle` puts the deployed one (.aws-sam/bundle): the same code and
        lock, wheels this CPU loads (the deployed bundle's native wheels are arm64). `make rehearse` rebuilds
        that bundle when its inputs change; run alone, the rehearsal builds it only when it is missing."""
        for stale in ("deploy", "tasks"):
            shutil.rmtree(WORK / stale, ignore_errors=True)
        (WORK / "deploy").mkdir(parents=True)
        shutil.copyfile(self.template, WORK / "deploy" / "template.yaml")
        if not (WORK / ".aws-sam" / "bundle" / "consumers").is_dir():
            build = [sys.executable, str(ROOT / "deploy" / "bundle.py"), "build", "--arch", "host"]
            subprocess.run([*build, "--out", str(WORK / ".aws-sam" / "bundle")], check=True, cwd=ROOT)
        return WORK / "deploy" / "template.yaml"

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.fake = CloudFake().start()
        self.profiles = CustomerProfilesStandIn(PROFILES_DOMAIN).start()
        self.pinpoint_import = PinpointImportStandIn(APPLICATION_ID).start()

    def stop(self) -> None:
        for container in self.containers.values():
            container.stop()
        self.fake.stop()
        self.profiles.stop()
        self.pinpoint_import.stop()
        self.moto.stop()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def parameters(self) -> dict[str, str]:
        """What an operator passes: the tracker and campaign (the stand-in's), Segment secrets made first
        in Secrets Manager (their ARNs are parameters), the refresh interval (ledger and sweep), small batches
        and one retry so a failing batch is given up quickly."""
        manager = self.client("secretsmanager")
        write_key = manager.create_secret(Name="pue/segment-write-key", SecretString="rehearsal-write-key")
        token = manager.create_secret(Name="pue/segment-profile-token", SecretString="rehearsal-token")
        return {
            "TrackingId": TRACKING_ID,
            "CampaignArn": CAMPAIGN_ARN,
            "SegmentWriteKeySecretArn": write_key["ARN"],
            "SegmentSpaceId": SPACE_ID,
            "SegmentProfileTokenSecretArn": token["ARN"],
            "RefreshMinIntervalSeconds": "60",
            "RefreshAnonymous": "true",
            "CustomerProfilesDomain": PROFILES_DOMAIN,
            "CustomerProfilesCreate": "true",
            # The legacy path too, so every function of the template runs (the S3-triggered segment import,
            # the campaign hook) and the stream's Pinpoint endpoint sink is on.
            "PinpointLegacy": "true",
            "PinpointApplicationId": APPLICATION_ID,
            "BatchSize": "10",
            "MaximumRetryAttempts": "1",
            "MaximumBatchingWindowInSeconds": "0",
        }

    def bring_up(self, template_path: Path) -> None:
        parameters = self.parameters()
        package = packaged(template_path, {"rehearsal": parameters})
        if package.returncode != 0:
            raise Broken(f"wiring: SAM CLI's packaging step failed: {package.stderr.strip()}")
        self.package = package
        self.stack = Stack(transformed(package.template(), parameters), parameters, self.client)
        self.stack.create()
        for name, resource in self.stack.resources.items():
            if resource["Type"] == "AWS::Lambda::Function":
                self.functions[name] = self._function(name, resource["Properties"])

    def _function(self, name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
        """Where the function's code is (its packaged zip, unzipped once per key) and its environment."""
        key = properties["Code"]["S3Key"]
        artifact = self.package.artifact(key)
        if properties["Code"]["S3Bucket"] != "pue-artifacts" or not artifact.is_file():
            raise Broken(
                f"wiring: {name}'s code s3://{properties['Code']['S3Bucket']}/{key} was never uploaded"
            )
        task_root = WORK / "tasks" / key
        if not task_root.exists():
            with zipfile.ZipFile(artifact) as zipped:
                zipped.extractall(task_root)
        module = properties["Handler"].rpartition(".")[0].replace(".", "/")
        if not ((task_root / f"{module}.py").is_file() or (task_root / module / "__init__.py").is_file()):
            raise Broken(f"wiring: {name}'s handler {properties['Handler']} is not in its code")
        variables = self.stack.value(properties.get("Environment", {}).get("Variables", {}))
        role = properties["Role"]["Fn::GetAtt"][0]
        log_group = self.stack.value(
            properties.get("LoggingConfig", {}).get("LogGroup", f"/aws/lambda/{name}")
        )
        return {
            "task_root": task_root,
            "handler": properties["Handler"],
            "template_env": {k: str(v) for k, v in variables.items()},
            "role": role,
            "log_group": log_group,
        }

    def lambda_env(self, name: str) -> dict[str, str]:
        """The template's variables, what Lambda sets, and the emulators' endpoints (the one addition)."""
        function = self.functions[name]
        env = dict(function["template_env"])
        env |= {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": self.stack.physical[name],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_LOG_GROUP_NAME": str(function["log_group"]),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "LAMBDA_TASK_ROOT": str(function["task_root"]),
            "_HANDLER": function["handler"],
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
        }
        env |= {f"AWS_ENDPOINT_URL_{s}": self.moto_url for s in MOTO_SERVICES}
        env |= {f"AWS_ENDPOINT_URL_{s}": self.fake.url for s in STAND_IN_SERVICES}
        env["AWS_ENDPOINT_URL_CUSTOMER_PROFILES"] = self.profiles.url
        # Pinpoint: endpoints on the stand-in the stream's sink is measured against; import jobs on their own.
        importing = name == "SegmentImportFunction"
        env["AWS_ENDPOINT_URL_PINPOINT"] = self.pinpoint_import.url if importing else self.fake.url
        env |= {"SEGMENT_API_HOST": self.fake.url, "SEGMENT_PROFILE_API_HOST": self.fake.url}
        return env

    # ---- invoking ----------------------------------------------------------------------------------
    def invoke(self, name: str, event: Mapping[str, Any]) -> Invocation:
        if name not in self.containers:
            self.containers[name] = LambdaContainer(
                name,
                self.python,
                self.functions[name]["task_root"],
                self.functions[name]["handler"],
                self.lambda_env(name),
            )
            group = self.functions[name]["log_group"]
            stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:rehearsal"
            self.need(name, "Lambda's log delivery", "logs:CreateLogStream", stream)
            self.need(name, "Lambda's log delivery", "logs:PutLogEvents", stream)
        invocation = self.containers[name].invoke(event)
        self.env_reads.setdefault(name, set()).update(invocation.env_reads)
        for call in invocation.calls:
            for action, resource in checks.requested(call, self.stack):
                self.need(name, "the code", action, resource)
        return invocation

    def invoker(self, name: str) -> Callable[[dict[str, Any]], tuple[Mapping[str, Any] | None, None]]:
        def invoke(event: dict[str, Any]) -> tuple[Mapping[str, Any] | None, None]:
            invocation = self.invoke(name, event)
            if invocation.error is not None:
                raise FunctionError(invocation.error)
            return invocation.response, None

        return invoke

    def need(self, name: str, who: str, action: str, resource: str) -> None:
        self.needs.setdefault(name, set()).add((who, action, resource))

    def kinesis_mapping(self) -> tuple[str, KinesisMapping]:
        (name, mapping), *_ = [
            (n, r) for n, r in self.stack.resources.items() if r["Type"] == "AWS::Lambda::EventSourceMapping"
        ]
        properties = self.stack.value(mapping["Properties"])
        function = next(f for f in self.functions if self.stack.physical[f] == properties["FunctionName"])
        streams = {
            self.stack.attributes[n]["Arn"]: self.stack.physical[n]
            for n, r in self.stack.resources.items()
            if r["Type"] == "AWS::Kinesis::Stream"
        }
        if properties["EventSourceArn"] not in streams:
            raise Broken(
                f"wiring: {name} reads {properties['EventSourceArn']}, which the stack did not create"
            )
        role_arn = self.stack.attributes[self.functions[function]["role"]]["Arn"]
        return function, KinesisMapping(
            properties, streams[properties["EventSourceArn"]], role_arn, self.client
        )

    # ---- checks ------------------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Every recorded read, call and alarm metric checked; the problems (one per item that fails)."""
        self.report.checked += sum(len(reads) for reads in self.env_reads.values())
        self.report.checked += sum(len(needs) for needs in self.needs.values())
        self.report.checked += len(checks.watched_metrics(self.stack))
        problems = []
        for name, reads in sorted(self.env_reads.items()):
            function = self.functions[name]
            problems += checks.environment_problems(
                name, function["template_env"], reads, function["handler"]
            )
        for name, needs in sorted(self.needs.items()):
            problems += checks.permission_problems(name, self.functions[name]["role"], needs, self.stack)
        logs = [line for container in self.containers.values() for line in container.logs]
        problems += checks.alarm_problems(self.stack, checks.emitted_metrics(logs))
        return problems


class Broken(Exception):
    """The stack cannot even be brought up: a CodeUri, handler or event source that points at nothing."""


class FunctionError(Exception):
    """The function raised (Lambda's "Unhandled" function error)."""


def rehearse(template: Path, python: str) -> Report:
    report = Report()
    rehearsal = Rehearsal(template, python, report)
    started = time.monotonic()
    template_path = rehearsal.layout()
    report.seconds["layout"] = time.monotonic() - started
    rehearsal.start()
    try:
        mark = time.monotonic()
        try:
            rehearsal.bring_up(template_path)
        except (Broken, Unresolvable) as error:
            report.checked += 1
            report.problems.append(str(error))
            return report
        report.seconds["package, transform, create"] = time.monotonic() - mark
        mark = time.monotonic()
        report.checked += 1  # the wiring: packaged, every reference resolved, every code and handler found
        scenario = Scenario(rehearsal)
        try:
            report.problems += scenario.play()
        except Unresolvable as error:
            report.problems += [*scenario.problems, f"wiring: {error}"]
        report.checked += scenario.checked + 1
        report.seconds["scenario"] = time.monotonic() - mark
        report.problems += rehearsal.check()
        report.notes.append("functions run: " + ", ".join(sorted(rehearsal.containers)))
        logs = [line for c in rehearsal.containers.values() for line in c.logs]
        emitted = checks.emitted_metrics(logs)
        report.notes.append(
            f"stand-in: PutEvents users {sorted(rehearsal.fake.events_by_user())}, "
            f"identifies {len(rehearsal.fake.identifies())}; EMF metrics emitted {len(emitted)}; "
            f"alarm metrics checked {len(checks.watched_metrics(rehearsal.stack))}"
        )
        report.notes.append(f"calls checked against roles: {sum(len(n) for n in rehearsal.needs.values())}")
        report.notes.append(
            "environment reads recorded: " + json.dumps({k: len(v) for k, v in rehearsal.env_reads.items()})
        )
    finally:
        rehearsal.stop()
    return report
