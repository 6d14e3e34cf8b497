"""``pue serve`` as a user runs it: a child process, a generated key printed once, Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.api_harness import HttpClient, check_contract, seed

_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
_KEY = re.compile(r"API key for this session: (\S+)")


def _reset_sigint() -> None:
    # A child of a non-interactive shell may inherit SIGINT ignored; a terminal's Ctrl-C never is.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def serve(tmp_path: Path) -> subprocess.Popen[str]:
    seed(tmp_path / "state")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUE_", "SEGMENT_", "PINPOINT_", "PERSONALIZE_"))
    }
    command = [
        sys.executable,
        "-m",
        "consumers.cli",
        "serve",
        "--state",
        str(tmp_path / "state"),
        "--port",
        "0",
    ]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_reset_sigint,
    )


def test_serve_prints_a_session_key_and_stops_cleanly_on_ctrl_c(serve: subprocess.Popen[str]) -> None:
    assert serve.stdout is not None
    banner: list[str] = []
    for line in serve.stdout:
        banner.append(line)
        if "openapi.json" in line:
            break
    text = "".join(banner)
    port_match, key_match = _LISTENING.search(text), _KEY.search(text)
    assert port_match and key_match, text
    key = key_match.group(1)
    assert f"curl -H 'x-api-key: {key}'" in text and "userId=" in text  # quoted for the shell

    client = HttpClient("127.0.0.1", int(port_match.group(1)))
    without = client.request("GET", "/recommendations", "userId=a-1")
    reply = client.request("GET", "/recommendations", "userId=a-1&numResults=2", {"x-api-key": key})
    for answer in (without, reply):
        check_contract(answer, "GET", "/recommendations")
    assert without.status == 401
    assert reply.status == 200 and len(reply.json()["items"]) == 2

    serve.send_signal(signal.SIGINT)
    rest, errors = serve.communicate(timeout=20)
    assert serve.returncode == 0, errors
    assert "pue serve: stopped" in rest
    logged = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    requests = [entry for entry in logged if entry.get("message") == "request"]
    assert [(r["route"], r["status"]) for r in requests] == [
        ("/recommendations", 401),
        ("/recommendations", 200),
    ]
    assert all(isinstance(r["latency_ms"], float) for r in requests)
    assert key not in errors and "a-1" not in errors  # no key, no user id in the logs
