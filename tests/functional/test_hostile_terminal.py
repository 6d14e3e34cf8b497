"""What pue prints for a person, when the text came from a hostile stream (issue 23, item 3).

``pue serve`` / ``pue run`` print a ready-to-paste curl line with the most active user's id in it. Before
issue 23 the id went in unquoted: a user ``x'$(touch${IFS}/tmp/PWNED)'`` made most active by replayed
events ran ``touch`` when the operator pasted the line. Here the printed line is run by ``sh -c`` in a
temporary directory, with a fake ``curl`` first on PATH that only records its arguments: nothing reaches
a network, and the assertion is on the raw argv the shell built. Stream text on stderr (event names in
``pue replay``'s summary, log lines) reaches the terminal with its control characters escaped.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from consumers.cli.arguments import local_settings
from consumers.cli.serve import most_active_user, print_banner, warn_if_not_loopback
from destinations.local import LocalBackend
from schemas.interaction import EventBatch, Interaction
from tests.functional.api_harness import seed

URL = "http://127.0.0.1:8080"
_FAKE_CURL = """#!/bin/sh
# Records its argv, one JSON list per call, and reaches no network.
exec "$PYTHON" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$ARGV_LOG"
"""


def _evil_id(tmp_path: Path) -> str:
    # The id, with the target inside the test's own directory (the test must not litter /tmp).
    return f"x'$(touch${{IFS}}{tmp_path}/PWNED)'"


def _make_most_active(state: Path, user: str) -> None:
    start = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    backend = LocalBackend.open(state)
    try:
        for batch in range(2):  # 20 events, more than any seeded user; PutEvents takes 10 at a time
            interactions = tuple(
                Interaction(f"evil-{k}", "Product Viewed", user, start + timedelta(minutes=k), user, f"E{k}")
                for k in range(10 * batch, 10 * batch + 10)
            )
            backend.tracker.put_events(EventBatch(user, user, interactions))
    finally:
        backend.close()


def _run_pasted(line: str, tmp_path: Path, env_key: str | None = None) -> list[list[str]]:
    """Run ``line`` as an operator pasting it would (``sh -c``), curl being the recording fake."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "curl"
    fake.write_text(_FAKE_CURL)
    fake.chmod(0o700)
    log = tmp_path / "argv.jsonl"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": sys.executable, "ARGV_LOG": str(log)}
    if env_key is not None:
        env["PUE_API_KEY"] = env_key
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    subprocess.run(["sh", "-c", line], cwd=work, env=env, check=True, timeout=30)
    return [json.loads(row) for row in log.read_text().splitlines()]


def _banner_line(state: Path, key: str) -> str:
    out = io.StringIO()
    print_banner(out, "pue serve", URL, key, most_active_user(local_settings(str(state))))
    (line,) = [row for row in out.getvalue().splitlines() if row.startswith("  try: ")]
    return line.removeprefix("  try: ")


@pytest.mark.parametrize("key", ["generated-key_3f9a", "$PUE_API_KEY"])
def test_the_pasted_curl_line_runs_nothing_from_a_user_id(tmp_path: Path, key: str) -> None:
    state = tmp_path / "state"
    seed(state)
    evil = _evil_id(tmp_path)
    _make_most_active(state, evil)
    line = _banner_line(state, key)
    calls = _run_pasted(line, tmp_path, env_key="env-key-77c1" if key.startswith("$") else None)
    assert not (tmp_path / "PWNED").exists()
    assert len(calls) == 1
    header, target = calls[0][1], calls[0][2]
    assert calls[0][0] == "-H" and len(calls[0]) == 3
    assert header == ("x-api-key: env-key-77c1" if key.startswith("$") else f"x-api-key: {key}")
    parts = urlsplit(target)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{URL}/recommendations"
    assert parse_qs(parts.query) == {"userId": [evil], "numResults": ["5"]}  # the id, intact, as data


def test_escape_sequences_in_event_names_reach_stderr_escaped(tmp_path: Path) -> None:
    hostile = "\x1b]0;PWNED\x07\x1b[2J\u202eevil\x9b31m"
    messages = [
        {"type": "track", "event": hostile, "userId": "u1", "messageId": "m1", "properties": {}},
        {"type": "track", "event": "E \ud800", "userId": "u2", "messageId": "m2", "properties": {}},
    ]
    archive = tmp_path / "hostile.jsonl"
    archive.write_text("".join(json.dumps(m) + "\n" for m in messages))
    done = subprocess.run(
        [sys.executable, "-m", "consumers.cli", "-v", "replay", str(archive), "--state", str(tmp_path / "s")],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    err = done.stderr.decode("utf-8")  # strict: a raw lone surrogate could not have been written
    for raw in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert raw not in err
    assert "\\u001b]0;PWNED\\u0007" in err  # still readable, as an escape
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["replay", "validate", "export"])
def test_an_error_naming_hostile_input_reaches_stderr_escaped(tmp_path: Path, command: str) -> None:
    """Error lines quote what they could not read (a path, a key, a line): escaped like the log lines."""
    hostile = tmp_path / "no\x1b]0;PWNED\x07\x1b[2Jsuch.jsonl"
    extra = {"replay": ["--state", str(tmp_path / "s")], "export": ["--out", str(tmp_path / "out")]}
    state = extra.get(command, [])
    done = subprocess.run(
        [sys.executable, "-m", "consumers.cli", command, str(hostile), *state],
        capture_output=True,
        timeout=120,
    )
    err = done.stderr.decode("utf-8")
    assert done.returncode == 2, err
    assert f"pue {command}: " in err and "PWNED" in err  # the problem is still named
    for raw in ("\x1b", "\x07"):
        assert raw not in err


def test_listening_beyond_loopback_warns(tmp_path: Path) -> None:
    for host, warned in (
        ("0.0.0.0", True),  # noqa: S104  (a string under test, nothing binds)
        ("::", True),
        ("192.0.2.7", True),
        ("127.0.0.1", False),
        ("::1", False),
    ):
        err = io.StringIO()
        assert warn_if_not_loopback("pue serve", host, err) is warned
        assert ("warning: listening on" in err.getvalue()) is warned
