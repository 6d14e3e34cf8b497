"""deploy/template.yaml as CloudFormation sees it: the SAM transform, offline, then conditions resolved.

CloudFormation runs the ``AWS::Serverless-2016-10-31`` transform before it validates anything; the
generated resources (the S3 notification on a bucket, event source mappings, permissions, roles) are where
deployment faults hide that cfn-lint on the SAM source cannot see. aws-sam-translator is the library behind
that transform and behind ``sam``; it asks IAM for AWS managed policy ARNs only when a function names one in
``Policies``, so the loader here answers from a fixed table and never reaches the network.

The template given must already be packaged (every function's code an S3 object), as CloudFormation only ever
sees it after ``sam deploy``'s packaging step: ``packaged()`` runs that step, SAM CLI's own code
(tests/support/sam_package.py in .venv-sam), and nothing here rewrites a CodeUri.
"""

from __future__ import annotations

import atexit
import copy
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str  # type: ignore[import-untyped]
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.managed_policy_translator import (  # type: ignore[import-untyped]
    ManagedPolicyLoader,
)
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]
from samtranslator.utils.py27hash_fix import (  # type: ignore[import-untyped]
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"  # make sam-venv
PACKAGER = ROOT / "tests" / "support" / "sam_package.py"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_UUID = "0f6a8c40-0000-11ef-8000-0a1b2c3d4e5f"
PSEUDO: dict[str, Any] = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": "pue",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/pue/{STACK_UUID}",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
    "AWS::NotificationARNs": [],
}


class OfflinePolicyLoader(ManagedPolicyLoader):  # type: ignore[misc]
    """AWS managed policies by name, without IAM: the template names none, so any lookup is a test failure."""

    def __init__(self) -> None:
        self.calls = 0

    def load(self) -> dict[str, str]:
        self.calls += 1
        return {}


def parse(text: str) -> dict[str, Any]:
    parsed, problems = decode_str(text)
    assert not problems, [str(p) for p in problems]
    return dict(parsed)


def transformed(
    source: Mapping[str, Any], parameters: Mapping[str, str], loader: OfflinePolicyLoader | None = None
) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of the packaged ``source`` for these values.

    What ``samtranslator.translator.transform.transform`` does, with a boto3 session given its region: the
    translator otherwise reads the region from the environment (and fails without one).
    """
    import boto3.session

    fragment = copy.deepcopy(dict(source))
    local = unpackaged_code(fragment)
    assert not local, f"not packaged, CloudFormation cannot read local code: {local}"
    values: dict[str, Any] = {k: v for k, v in PSEUDO.items() if v is not None} | dict(parameters)
    to_py27_compatible_template(fragment, values)
    policies = loader or OfflinePolicyLoader()
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    output = translator.translate(fragment, parameter_values=values, get_managed_policy_map=policies.load)
    return dict(undo_mark_unicode_str_in_template(output))


def unpackaged_code(template: Mapping[str, Any]) -> dict[str, Any]:
    """Function -> its code where that is still a local path (Globals applied), not an S3 object."""
    default = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    found = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function" or "InlineCode" in resource.get("Properties", {}):
            continue
        code = resource.get("Properties", {}).get("CodeUri", default)
        if not (isinstance(code, dict) or (isinstance(code, str) and code.startswith("s3://"))):
            found[name] = code
    return found


def packaged(template: Path, parameter_sets: Mapping[str, Mapping[str, str]]) -> SamPackage:
    """SAM CLI's packaging step run on ``template`` where it lies (CodeUris resolve against its folder)."""
    out = Path(tempfile.mkdtemp(prefix="pue-sam-package-"))
    atexit.register(shutil.rmtree, out, True)  # the zips: a rehearsal's is ~20 MB
    (out / "sets.json").write_text(json.dumps(parameter_sets), encoding="utf-8")
    if not SAM_PYTHON.exists():
        raise AssertionError(f"{SAM_PYTHON} is missing: run `make sam-venv` (make test does)")
    command = [str(SAM_PYTHON), str(PACKAGER), str(template), "--out", str(out)]
    done = subprocess.run(
        [*command, "--parameter-sets", str(out / "sets.json")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=template.parent,
    )
    return SamPackage(done.returncode, done.stderr, out)


class SamPackage:
    """What the packaging step left: its exit code and error text, the packaged template and the uploads."""

    def __init__(self, returncode: int, stderr: str, out: Path) -> None:
        self.returncode, self.stderr, self.out = returncode, stderr, out

    def template(self) -> dict[str, Any]:
        assert self.returncode == 0, self.stderr
        return dict(json.loads((self.out / "packaged.json").read_text(encoding="utf-8")))

    def uploads(self) -> list[dict[str, Any]]:
        return list(json.loads((self.out / "uploads.json").read_text(encoding="utf-8")))

    def unauthenticated(self) -> dict[str, list[str]]:
        return dict(json.loads((self.out / "auth.json").read_text(encoding="utf-8")))

    def artifact(self, key: str) -> Path:
        return self.out / "artifacts" / key


def with_defaults(template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """``template`` with ``parameters`` as its parameters' defaults: what cfn-lint evaluates conditions on."""
    result = copy.deepcopy(dict(template))
    for name, value in parameters.items():
        result["Parameters"][name]["Default"] = value
    return result


class Resolver:
    """Evaluates a template's conditions and Fn::If for one set of parameter values (defaults filled in)."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        missing = [n for n, p in declared.items() if "Default" not in p and n not in parameters]
        assert not missing, f"no value for required parameters {missing}"
        unknown = set(parameters) - set(declared)
        assert not unknown, f"not parameters of the template: {sorted(unknown)}"
        self.values: dict[str, Any] = {
            **PSEUDO,
            **{n: str(p["Default"]) for n, p in declared.items() if "Default" in p},
            **parameters,
        }
        self.conditions = {name: self.condition(name) for name in template.get("Conditions", {})}

    def condition(self, name: str) -> bool:
        return self.truth(self.template["Conditions"][name])

    def truth(self, expression: Any) -> bool:
        (function, argument), *rest = expression.items()
        assert not rest, expression
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.value(a) for a in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.truth(argument[0])
        if function == "Fn::And":
            return all(self.truth(a) for a in argument)
        if function == "Fn::Or":
            return any(self.truth(a) for a in argument)
        raise AssertionError(f"unexpected condition function {function}")

    def value(self, expression: Any) -> Any:
        if isinstance(expression, dict) and set(expression) == {"Ref"}:
            return self.values[expression["Ref"]]
        if isinstance(expression, dict) and set(expression) == {"Condition"}:
            return self.condition(expression["Condition"])
        return expression

    def rules_hold(self) -> list[str]:
        """The AssertDescription of every template rule these parameter values break."""
        broken = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.truth(rule["RuleCondition"]):
                continue
            broken += [a["AssertDescription"] for a in rule["Assertions"] if not self.truth(a["Assert"])]
        return broken

    def resolve(self, node: Any) -> Any:
        """``node`` with every Fn::If decided and AWS::NoValue removed."""
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return self.resolve(yes if self.conditions[name] else no)
            out = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
        if isinstance(node, list):
            resolved = (self.resolve(v) for v in node)
            return [v for v in resolved if v != {"Ref": "AWS::NoValue"}]
        return node

    def live_resources(self) -> dict[str, dict[str, Any]]:
        """The resources CloudFormation creates for these values, their Fn::If decided."""
        return {
            name: self.resolve(resource)
            for name, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.conditions[resource["Condition"]]
        }


def references(node: Any) -> Iterator[str]:
    """The logical ids and parameters ``node`` names through Ref, Fn::GetAtt and Fn::Sub."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield (value.split(".")[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text, names = (value, {}) if isinstance(value, str) else (value[0], value[1])
                yield from _sub_names(text, names)
                yield from references(names)
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def _sub_names(text: str, local: Mapping[str, Any]) -> Iterator[str]:
    start = text.find("${")
    while start != -1:
        end = text.index("}", start)
        name = text[start + 2 : end]
        if not name.startswith("!") and name not in local:
            yield name.split(".")[0]
        start = text.find("${", end)


def dependencies(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Resource -> the resources it needs first: what it references, and its DependsOn."""
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        needed = set(references(resource.get("Properties", {}))) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        graph[name] = {n for n in needed if n in resources}
    return graph


def dangling(
    nodes: Mapping[str, Mapping[str, Any]],
    resources: Mapping[str, Any],
    parameters: Mapping[str, Any],
) -> list[str]:
    """``node -> name`` for every reference in ``nodes`` (resources or outputs) to something that is neither
    a created resource nor a parameter."""
    known = set(resources) | set(parameters) | set(PSEUDO)
    found = []
    for name, node in nodes.items():
        depends_on = node.get("DependsOn", [])
        names = set(references(node)) | set([depends_on] if isinstance(depends_on, str) else depends_on)
        found += [f"{name} -> {target}" for target in sorted(names - known)]
    return found


def cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One circular dependency in ``graph`` (its resources, in order), or [] when there is none."""
    try:
        tuple(TopologicalSorter(graph).static_order())
    except Exception as error:  # graphlib.CycleError carries the cycle as its second argument
        return list(error.args[1])
    return []
