"""pue refuses to start, naming the conflict, when ``consumers``/``destinations``/``schemas`` are not its own
(PyPI has distributions called ``consumers`` and ``schemas``): consumers/config/installation.py."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from consumers.config.installation import ADVICE, check_installation, installation_problems


def test_this_environment_is_pue_s_own() -> None:
    assert installation_problems() == []
    assert check_installation() is None


def test_a_namesake_package_that_shadows_pue_s_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    namesake = types.ModuleType("schemas")
    namesake.__file__ = "/somewhere/site-packages/schemas/__init__.py"
    monkeypatch.setitem(sys.modules, "schemas", namesake)
    [problem] = installation_problems()
    assert problem.startswith(
        "the 'schemas' package Python finds (/somewhere/site-packages/schemas/__init__.py)"
    )
    assert "is not pue's" in problem


def test_a_distribution_sharing_a_top_level_name_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "consumers-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: consumers\nVersion: 0.0.1\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    [problem] = installation_problems()
    assert problem.startswith("the distribution 'consumers' 0.0.1 is installed beside pue")
    assert "shares its top-level package 'consumers'" in problem
    message = check_installation()
    assert message is not None and message.endswith(ADVICE + "\n")


def test_the_pue_command_stops_before_any_import_error_and_says_why(tmp_path: Path) -> None:
    # A folder named schemas earlier on sys.path, as a PyPI package of that name would be.
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "__init__.py").write_text('"""Not pue\'s."""\n', encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from consumers.cli import main; sys.exit(main(['recommend', 'u1']))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "pue: this installation is broken:\n  - the 'schemas' package Python finds ("
    )
    assert str(tmp_path / "schemas") in done.stderr
    assert "Traceback" not in done.stderr
