"""``make test`` on a bare machine: tests/support/ensure_chromium.sh installs chromium with apt when it can
(root, or sudo without a password) and otherwise stops with the one command to run.

The script runs with a PATH of fakes only: ``id`` says who we are, ``sudo`` and ``apt-get`` record their
arguments (the fake apt-get "installs" chromium by creating the file), so no test touches the real system.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "ensure_chromium.sh"
ONE_COMMAND = "sudo apt-get install -y chromium"


@dataclass
class Machine:
    bin: Path
    chromium: Path
    log: Path

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {"PATH": str(self.bin), "PUE_CHROMIUM": str(self.chromium), **env}
        return subprocess.run(
            ["/bin/sh", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=30, check=False
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def _fake(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def machine(
    tmp_path: Path, *, uid: int, sudo: str | None = None, apt: bool = True, install_fails: int = 0
) -> Machine:
    """``sudo``: None (not installed), "ok" (no password), "password" (asks for one)."""
    fake_bin, log, chromium = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "chromium"
    fake_bin.mkdir()
    for tool in ("env", "cat", "tr", "chmod", "printf"):  # what the script and the fakes use, nothing else
        (fake_bin / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    _fake(fake_bin / "id", f"echo {uid}\n")
    if sudo is not None:
        allowed = "exit 0" if sudo == "ok" else "exit 1"
        _fake(
            fake_bin / "sudo",
            f'echo "sudo $*" >> {log}\n[ "$1" = -n ] && shift\n[ "$1" = true ] && {allowed}\nexec "$@"\n',
        )
    if apt:
        failures = tmp_path / "install-failures"
        failures.write_text("x" * install_fails)
        _fake(
            fake_bin / "apt-get",
            f'echo "apt-get $*" >> {log}\n'
            f'case "$*" in *install*chromium*)\n'
            f"  left=$(cat {failures})\n"
            f'  if [ -n "$left" ]; then echo "${{left#x}}" | tr -d "\\n" > {failures}; exit 100; fi\n'
            f'  printf "#!/bin/sh\\n" > {chromium}; chmod +x {chromium};;\nesac\nexit 0\n',
        )
    return Machine(fake_bin, chromium, log)


def test_an_installed_chromium_needs_nothing(tmp_path: Path) -> None:
    box = machine(tmp_path, uid=1000)
    _fake(box.chromium, "")
    result = box.run()
    assert result.returncode == 0 and box.calls() == [] and result.stderr == ""


def test_root_installs_it_with_apt(tmp_path: Path) -> None:
    box = machine(tmp_path, uid=0)
    result = box.run()
    assert result.returncode == 0, result.stderr
    assert box.calls() == ["apt-get install -y -qq chromium"]
    assert os.access(box.chromium, os.X_OK)


def test_stale_package_lists_are_refreshed_once(tmp_path: Path) -> None:
    box = machine(tmp_path, uid=0, install_fails=1)
    assert box.run().returncode == 0
    assert box.calls() == [
        "apt-get install -y -qq chromium",
        "apt-get update -qq",
        "apt-get install -y -qq chromium",
    ]


def test_a_user_with_passwordless_sudo_installs_it_through_sudo(tmp_path: Path) -> None:
    box = machine(tmp_path, uid=1000, sudo="ok")
    assert box.run().returncode == 0
    assert box.calls() == [
        "sudo -n true",
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
        "apt-get install -y -qq chromium",
    ]


@pytest.mark.parametrize("sudo", [None, "password"])
def test_otherwise_it_stops_at_once_with_the_one_command(tmp_path: Path, sudo: str | None) -> None:
    box = machine(tmp_path, uid=1000, sudo=sudo)
    result = box.run()
    assert result.returncode == 1
    assert f"    {ONE_COMMAND}\n" in result.stderr
    assert [c for c in box.calls() if "apt-get" in c] == []


def test_a_failed_install_stops_with_the_one_command(tmp_path: Path) -> None:
    box = machine(tmp_path, uid=0, install_fails=2)
    result = box.run()
    assert result.returncode == 1 and ONE_COMMAND in result.stderr
    assert len(box.calls()) == 3


def test_skip_browser_skips_the_check_outside_ci_only(tmp_path: Path) -> None:
    box = machine(tmp_path, uid=1000)
    skipped = box.run(PUE_SKIP_BROWSER="1")
    assert skipped.returncode == 0 and "skips the browser test" in skipped.stderr
    in_ci = box.run(PUE_SKIP_BROWSER="1", CI="true")
    assert in_ci.returncode == 1 and ONE_COMMAND in in_ci.stderr
