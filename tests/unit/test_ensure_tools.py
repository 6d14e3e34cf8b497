"""``make test`` on a bare machine: tests/support/ensure_chromium.sh (the browser test's chromium) and
ensure_java.sh (the Spark export tests' Java runtime) install their package with apt when they can (root,
or sudo without a password) and otherwise stop with the one command to run.

Each script runs on a machine of fakes (tests/support/fake_apt.py): no test touches the real system.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_apt import Machine, fake
from tests.support.fake_apt import machine as fake_machine

SUPPORT = Path(__file__).resolve().parents[1] / "support"


@dataclass(frozen=True)
class Tool:
    script: str
    package: str
    variable: str  # names the tool's path
    skip: str  # skips its tests outside CI
    skip_note: str

    @property
    def one_command(self) -> str:
        return f"sudo apt-get install -y {self.package}"

    def machine(self, tmp_path: Path, **kw: Any) -> Machine:
        script = SUPPORT / self.script
        return fake_machine(tmp_path, script=script, package=self.package, tool_variable=self.variable, **kw)


TOOLS = [
    Tool("ensure_chromium.sh", "chromium", "PUE_CHROMIUM", "PUE_SKIP_BROWSER", "skips the browser test"),
    Tool(
        "ensure_java.sh",
        "openjdk-17-jre-headless",
        "PUE_JAVA",
        "PUE_SKIP_SPARK",
        "skips the Spark export tests",
    ),
]


@pytest.fixture(params=TOOLS, ids=lambda tool: tool.package)
def tool(request: pytest.FixtureRequest) -> Tool:
    chosen: Tool = request.param
    return chosen


def test_an_installed_tool_needs_nothing(tmp_path: Path, tool: Tool) -> None:
    box = tool.machine(tmp_path, uid=1000)
    fake(box.tool, "")
    result = box.run()
    assert result.returncode == 0 and box.calls() == [] and result.stderr == ""


def test_root_installs_it_with_apt(tmp_path: Path, tool: Tool) -> None:
    box = tool.machine(tmp_path, uid=0)
    result = box.run()
    assert result.returncode == 0, result.stderr
    assert box.calls() == [f"apt-get install -y -qq {tool.package}"]
    assert os.access(box.tool, os.X_OK)


def test_stale_package_lists_are_refreshed_once(tmp_path: Path, tool: Tool) -> None:
    box = tool.machine(tmp_path, uid=0, install_fails=1)
    assert box.run().returncode == 0
    assert box.calls() == [
        f"apt-get install -y -qq {tool.package}",
        "apt-get update -qq",
        f"apt-get install -y -qq {tool.package}",
    ]


def test_a_user_with_passwordless_sudo_installs_it_through_sudo(tmp_path: Path, tool: Tool) -> None:
    box = tool.machine(tmp_path, uid=1000, sudo="ok")
    assert box.run().returncode == 0
    assert box.calls() == [
        "sudo -n true",
        f"sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {tool.package}",
        f"apt-get install -y -qq {tool.package}",
    ]


@pytest.mark.parametrize("sudo", [None, "password"])
def test_otherwise_it_stops_at_once_with_the_one_command(
    tmp_path: Path, tool: Tool, sudo: str | None
) -> None:
    box = tool.machine(tmp_path, uid=1000, sudo=sudo)
    result = box.run()
    assert result.returncode == 1
    assert f"    {tool.one_command}\n" in result.stderr
    assert [c for c in box.calls() if "apt-get" in c] == []


def test_a_failed_install_stops_with_the_one_command(tmp_path: Path, tool: Tool) -> None:
    box = tool.machine(tmp_path, uid=0, install_fails=2)
    result = box.run()
    assert result.returncode == 1 and tool.one_command in result.stderr
    assert len(box.calls()) == 3


def test_the_skip_variable_skips_the_check_outside_ci_only(tmp_path: Path, tool: Tool) -> None:
    box = tool.machine(tmp_path, uid=1000)
    skipped = box.run(**{tool.skip: "1"})
    assert skipped.returncode == 0 and tool.skip_note in skipped.stderr
    in_ci = box.run(**{tool.skip: "1", "CI": "true"})
    assert in_ci.returncode == 1 and tool.one_command in in_ci.stderr
