"""``pue run`` (what ``make run`` runs) as a user meets it: the demo, then the API serving its data, with a
curl line that works as printed; Ctrl-C or SIGTERM stops it cleanly. Plus a busy port and ``--no-serve``."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from consumers.cli import main
from tests.functional.api_harness import Reply, check_contract

# A generated key in single quotes (shlex.quote), $PUE_API_KEY in double quotes, for the shell to expand.
_CURL = re.compile(
    r"""curl -H ["']x-api-key: ([^"']+)["'] 'http://(127\.0\.0\.1):(\d+)(/recommendations\?[^']+)'"""
)
_WEB_PAGE = re.compile(r"web page: http://127\.0\.0\.1:(\d+)/$", re.M)
_DEMO_USERS = "30"  # enough for every user to have a list, few enough to keep the test quick
_SET_KEY = "operator-key-5b1f0e9d7c3a2b48"
_HANG_SECONDS = 60  # a server that never prints its banner is killed, so the test fails instead of hanging


def _reset_sigint() -> None:
    # A child of a non-interactive shell may inherit SIGINT ignored; a terminal's Ctrl-C never is.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _clean_env(api_key: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUE_", "SEGMENT_", "PINPOINT_", "PERSONALIZE_"))
    }
    if api_key is not None:
        env["PUE_API_KEY"] = api_key
    return env


def _get(host: str, port: int, path: str, key: str) -> Reply:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers={"x-api-key": key})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("stop_signal", "api_key"),
    [(signal.SIGINT, None), (signal.SIGTERM, _SET_KEY)],
    ids=["ctrl-c-generated-key", "sigterm-key-from-env"],
)
def test_run_serves_the_demo_data_and_its_curl_line_works(
    tmp_path: Path, stop_signal: signal.Signals, api_key: str | None
) -> None:
    command = [sys.executable, "-m", "consumers.cli", "run", "--port", "0", "--state", str(tmp_path / "s")]
    process = subprocess.Popen(
        [*command, "--users", _DEMO_USERS],
        env=_clean_env(api_key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_reset_sigint,
    )
    watchdog = threading.Timer(_HANG_SECONDS, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        printed: list[str] = []
        for line in process.stdout:
            printed.append(line)
            if "web page:" in line:
                break
        text = "".join(printed)
        assert "Summary" in text, text  # the demo ran first
        curl, page = _CURL.search(text), _WEB_PAGE.search(text)
        assert curl and page, text
        shown_key, host, port, path = curl.groups()
        assert page.group(1) == port
        if api_key is None:
            assert f"API key for this session: {shown_key}" in text
            key = shown_key
        else:
            assert shown_key == "$PUE_API_KEY" and api_key not in text  # the shell expands it
            key = api_key

        reply = _get(host, int(port), path, key)
        check_contract(reply, "GET", "/recommendations")
        assert reply.status == 200
        assert len(reply.json()["items"]) == 5  # numResults=5 in the printed line
        assert _get(host, int(port), path, "not-the-key-0123456789").status == 403
    finally:
        process.send_signal(stop_signal)
        rest, errors = process.communicate(timeout=30)
        watchdog.cancel()
    assert process.returncode == 0, errors
    assert "pue run: stopped" in rest
    assert "Traceback" not in errors and key not in errors


def test_a_busy_port_is_named_before_the_demo_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["run", "--port", str(port), "--state", str(tmp_path / "s"), "--users", "5"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in captured.err
    assert "--no-serve" in captured.err and "Traceback" not in captured.err
    assert "Summary" not in captured.out and not (tmp_path / "s").exists()


def test_no_serve_stops_after_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--no-serve", "--state", str(tmp_path / "s"), "--users", "5"]) == 0
    out = capsys.readouterr().out
    assert "Summary" in out and "listening on" not in out
