"""A machine of fakes for the tests/support/ensure_*.sh scripts: no test touches the real system.

The script runs with a PATH of fakes only: ``id`` says who we are, ``sudo`` and ``apt-get`` record their
arguments, and the fake apt-get "installs" the package by creating the tool's file (at the path the script
is told with its ``PUE_...`` variable), failing the first ``install_fails`` times.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Machine:
    script: Path
    bin: Path
    tool: Path  # where the script looks for the tool (chromium, java)
    tool_variable: str  # the environment variable that tells it (PUE_CHROMIUM, PUE_JAVA)
    log: Path

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {"PATH": str(self.bin), self.tool_variable: str(self.tool), **env}
        return subprocess.run(
            ["/bin/sh", str(self.script)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def fake(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def machine(
    tmp_path: Path,
    *,
    script: Path,
    package: str,
    tool_variable: str,
    uid: int,
    sudo: str | None = None,
    apt: bool = True,
    install_fails: int = 0,
) -> Machine:
    """``sudo``: None (not installed), "ok" (no password), "password" (asks for one)."""
    fake_bin, log, tool = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "tool"
    fake_bin.mkdir()
    for name in ("env", "cat", "tr", "chmod", "printf"):  # what the script and the fakes use, nothing else
        (fake_bin / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    fake(fake_bin / "id", f"echo {uid}\n")
    if sudo is not None:
        allowed = "exit 0" if sudo == "ok" else "exit 1"
        fake(
            fake_bin / "sudo",
            f'echo "sudo $*" >> {log}\n[ "$1" = -n ] && shift\n[ "$1" = true ] && {allowed}\nexec "$@"\n',
        )
    if apt:
        failures = tmp_path / "install-failures"
        failures.write_text("x" * install_fails)
        fake(
            fake_bin / "apt-get",
            f'echo "apt-get $*" >> {log}\n'
            f'case "$*" in *install*{package}*)\n'
            f"  left=$(cat {failures})\n"
            f'  if [ -n "$left" ]; then echo "${{left#x}}" | tr -d "\\n" > {failures}; exit 100; fi\n'
            f'  printf "#!/bin/sh\\n" > {tool}; chmod +x {tool};;\nesac\nexit 0\n',
        )
    return Machine(script, fake_bin, tool, tool_variable, log)
