"""Reliability 5, secrets and PII: the planted write key, Profile token and API key, and the email addresses
the generated data carries, appear in no log line (pue's, botocore's, urllib3's, Segment's, even with
their debug logs turned on) and in no handler or configuration error.

The hostile and fault runs check their own logs too (``Tally.leaks``); here the third-party loggers are
forced to DEBUG, what an operator chasing a problem would do.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Final
from urllib.parse import quote

import pytest

from consumers.config.logs import redact
from consumers.config.secrets import resolve_secrets
from consumers.config.settings import Settings
from schemas.errors import ConfigError
from tests.functional.api_harness import TRANSPORTS, client_for, seed
from tests.functional.reliability_faults_run import ISSUE_RATES, check_faults, run_faults, versioned_fake
from tests.functional.reliability_figures import report
from tests.functional.reliability_hostile_run import check_hostile, run_hostile
from tests.functional.reliability_support import SECRETS, Tally, captured_logs, find_leaks, log_lines
from tests.support.cloud_fake import CloudFake

SEED: Final = 51


def _leaks_only(tally: Tally) -> list[str]:
    return [problem for problem in tally.problems if problem.startswith("leak")]


def test_no_leak_with_library_debug_logs_on_hostile_input(tmp_path: Path) -> None:
    with CloudFake() as fake:
        run = run_hostile(tmp_path, fake, records=400, seed=SEED, libraries_at=logging.DEBUG)
    assert run.logs, "nothing was logged: the scan would prove nothing"
    assert _leaks_only(check_hostile(run)) == []


def test_no_leak_with_library_debug_logs_under_faults(tmp_path: Path) -> None:
    with versioned_fake(ISSUE_RATES, seed=SEED) as fake:
        run = run_faults(tmp_path, fake, records=40, seed=SEED, libraries_at=logging.DEBUG)
    assert '"logger": "botocore' in run.logs  # the library debug logs were really on
    assert _leaks_only(check_faults(run)) == []


@pytest.mark.stress
def test_secrets_full_run(tmp_path: Path) -> None:
    tally = Tally("secrets and PII (library debug logs on)")
    with CloudFake() as fake:
        hostile = check_hostile(
            run_hostile(tmp_path / "h", fake, records=3_000, seed=SEED, libraries_at=logging.DEBUG)
        )
    with versioned_fake(ISSUE_RATES, seed=SEED) as fake:
        run = run_faults(tmp_path / "f", fake, records=300, seed=SEED, libraries_at=logging.DEBUG)
    faults = check_faults(run)
    tally.add(hostile)
    tally.add(faults)
    report(tally, faults_by_kind=run.faults)
    assert tally.problems == []


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_the_scan_finds_each_planted_secret_in_any_form(name: str) -> None:
    """The scan can fail: the plain and the HTTP basic-auth forms are found, and emails."""
    secret = SECRETS[name]
    basic = base64.b64encode(f"{secret}:".encode()).decode()
    for text in (f"key={secret}", f"Authorization: Basic {basic}", "to ada@example.com"):
        assert find_leaks([("line", text)]) != [], text


def test_redaction_masks_secrets_and_emails_whatever_wrote_them() -> None:
    from consumers.config.logs import register_secret

    for secret in SECRETS.values():
        register_secret(secret)
    line = " ".join(SECRETS.values()) + " shopper.1+2@example.com"
    assert find_leaks([("redacted", redact(line))]) == []


def test_configuration_errors_never_echo_a_secret() -> None:
    """A secret set twice (value and ARN) or through a broken secret is named, never shown."""
    env = {name: value for name, value in SECRETS.items()}
    env.update({f"{name}_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:0:secret:x" for name in SECRETS})
    with pytest.raises(ConfigError) as raised:
        resolve_secrets(env, client=object())
    assert find_leaks([("config error", str(raised.value))]) == []
    assert all(name in str(raised.value) for name in SECRETS)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**SECRETS, "SEGMENT_SPACE_ID": "", "PUE_MAX_WORKERS": "many"})
    assert find_leaks([("config error", str(raised.value))]) == []


# -- the HTTP API's error responses ------------------------------------------------------------------

EMAIL: Final = "ada.lovelace+shop@example.com"
_API_CLOUD_VARIABLES: Final = (
    "SEGMENT_WRITE_KEY",
    "SEGMENT_SPACE_ID",
    "SEGMENT_PROFILE_TOKEN",
    "PUE_EVENT_MAP",
)


def _bad_requests(key: str) -> list[tuple[str, str, str, dict[str, str], bytes]]:
    """(method, path, query, headers, body) that each end in an error carrying the request's values."""
    quoted = quote(EMAIL, safe="")
    event = {"type": "track", "event": "Product Viewed", "userId": EMAIL + "x" * 300, "messageId": EMAIL}
    json_header = {"x-api-key": key, "content-type": "application/json"}
    return [
        ("GET", "/recommendations", f"userId={quoted}", {}, b""),
        ("GET", "/recommendations", f"userId={quoted}", {"x-api-key": key + "-" + EMAIL}, b""),
        ("GET", "/recommendations", f"userId={quoted}&numResults={quoted}", {"x-api-key": key}, b""),
        ("GET", f"/users/{quoted}/nothing", f"email={quoted}", {"x-api-key": key}, b""),
        ("POST", "/events", "", json_header, json.dumps(event).encode()),
        ("POST", "/events", "", json_header, f'{{"userId": "{EMAIL}", '.encode()),
        ("POST", "/events", "", {**json_header, "content-type": "text/plain"}, EMAIL.encode()),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_api_error_responses_carry_no_secret_or_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    for name in _API_CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    seed(tmp_path / "state")
    monkeypatch.setenv("PUE_BACKEND", "local")
    monkeypatch.setenv("PUE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PUE_API_KEY", SECRETS["PUE_API_KEY"])
    texts: list[tuple[str, str]] = []
    with client_for(transport) as client:
        # The Lambda cold start installs its own log handlers: capture after it, as it would log.
        assert client.request("GET", "/health").status == 200
        with captured_logs("DEBUG") as logs:
            logging.getLogger("pue.api").setLevel(logging.INFO)  # the per-request line
            for method, path, query, headers, body in _bad_requests(SECRETS["PUE_API_KEY"]):
                reply = client.request(method, path, query, headers=headers, body=body)
                assert reply.status >= 400, (method, path, query)
                where = f"{transport} {method} {path} -> {reply.status}"
                texts.append((where, reply.body.decode("utf-8", "replace") + repr(dict(reply.headers))))
    lines = log_lines(logs)
    assert len(lines) >= len(_bad_requests("")), "every request logs a line: the capture must see them"
    assert find_leaks(texts + lines) == []
