"""Secrets Manager references become environment values once per process; failures name the variable only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from consumers.config import secrets
from consumers.config.logs import redact
from consumers.config.secrets import clear_cache, resolve_secrets
from schemas.errors import ConfigError

WRITE_KEY = "wk_live_0123456789abcdef"
PROFILE_TOKEN = "pt_0123456789abcdef0123"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        yield boto3.client("secretsmanager", region_name="us-east-1")


class CountingClient:
    """Wraps a real (moto) client to count GetSecretValue calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def get_secret_value(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.get_secret_value(**kwargs)


def create(client: Any, name: str, value: str) -> str:
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


def test_fills_each_name_from_its_secret_and_keeps_the_rest(client: Any) -> None:
    env = {
        "SEGMENT_WRITE_KEY_SECRET_ARN": create(client, "pue/write-key", WRITE_KEY),
        "SEGMENT_PROFILE_TOKEN_SECRET_ARN": create(
            client, "pue/profile", json.dumps({"SEGMENT_PROFILE_TOKEN": PROFILE_TOKEN})
        ),
        "PUE_BACKEND": "aws",
    }
    resolved = resolve_secrets(env, client=client)
    assert resolved["SEGMENT_WRITE_KEY"] == WRITE_KEY
    assert resolved["SEGMENT_PROFILE_TOKEN"] == PROFILE_TOKEN  # JSON key/value secrets work too
    assert resolved["PUE_BACKEND"] == "aws" and "PUE_API_KEY" not in resolved
    assert "SEGMENT_WRITE_KEY" not in env  # the input is not modified
    # Once read, a secret is masked in every log line.
    assert WRITE_KEY not in redact(f"key={WRITE_KEY}")


def test_each_secret_is_fetched_once_per_process(client: Any) -> None:
    arn = create(client, "pue/api-key", "k-0123456789")
    counting = CountingClient(client)
    for _ in range(3):
        assert (
            resolve_secrets({"PUE_API_KEY_SECRET_ARN": arn}, client=counting)["PUE_API_KEY"] == "k-0123456789"
        )
    assert counting.calls == 1


def test_without_references_no_client_is_needed() -> None:
    assert resolve_secrets({"SEGMENT_WRITE_KEY": "plain-for-local-dev"}) == {
        "SEGMENT_WRITE_KEY": "plain-for-local-dev"
    }


def test_builds_its_own_client_when_none_is_injected(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = create(client, "pue/write-key", WRITE_KEY)
    built: list[str] = []
    real = secrets._make_client

    def spy() -> Any:
        built.append("secretsmanager")
        return real()

    monkeypatch.setattr(secrets, "_make_client", spy)
    assert resolve_secrets({"SEGMENT_WRITE_KEY_SECRET_ARN": arn})["SEGMENT_WRITE_KEY"] == WRITE_KEY
    assert built == ["secretsmanager"]


def test_every_unreadable_secret_is_named_without_any_value(client: Any) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pue/nope-AbCdEf"
    empty = create(client, "pue/empty", "   ")
    wrong_json = create(client, "pue/json", json.dumps({"other": WRITE_KEY}))
    env = {
        "SEGMENT_WRITE_KEY_SECRET_ARN": wrong_json,
        "SEGMENT_PROFILE_TOKEN_SECRET_ARN": missing,
        "PUE_API_KEY_SECRET_ARN": empty,
    }
    with pytest.raises(ConfigError) as caught:
        resolve_secrets(env, client=client)
    problems = caught.value.problems
    assert len(problems) == 3
    assert (
        problems[0].startswith("SEGMENT_WRITE_KEY_SECRET_ARN:") and "'SEGMENT_WRITE_KEY' key" in problems[0]
    )
    assert (
        problems[1].startswith("SEGMENT_PROFILE_TOKEN_SECRET_ARN:")
        and "ResourceNotFoundException" in problems[1]
    )
    assert problems[2].startswith("PUE_API_KEY_SECRET_ARN:") and "empty" in problems[2]
    assert WRITE_KEY not in str(caught.value)


def test_binary_secrets_are_refused(client: Any) -> None:
    arn = str(client.create_secret(Name="pue/binary", SecretBinary=b"\x00\x01")["ARN"])
    with pytest.raises(ConfigError, match="PUE_API_KEY_SECRET_ARN: .*no string value"):
        resolve_secrets({"PUE_API_KEY_SECRET_ARN": arn}, client=client)


def test_a_plain_value_and_a_reference_together_are_ambiguous(client: Any) -> None:
    arn = create(client, "pue/write-key", WRITE_KEY)
    with pytest.raises(ConfigError, match="set SEGMENT_WRITE_KEY or SEGMENT_WRITE_KEY_SECRET_ARN, not both"):
        resolve_secrets({"SEGMENT_WRITE_KEY": "other", "SEGMENT_WRITE_KEY_SECRET_ARN": arn}, client=client)
