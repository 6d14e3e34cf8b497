"""make_client: bounded retries, short timeouts, a pool sized for the workers, endpoints from boto3's env."""

from __future__ import annotations

import pytest

from destinations.aws.clients import make_client


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_PINPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_the_client_is_configured_as_asked() -> None:
    client = make_client(
        "personalize-events", region="eu-west-1", max_pool_connections=32, max_attempts=5, read_timeout=3.0
    )
    config = client.meta.config
    assert client.meta.region_name == "eu-west-1"
    assert config.max_pool_connections == 32
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (config.connect_timeout, config.read_timeout) == (2.0, 3.0)
    assert client.meta.endpoint_url == "https://personalize-events.eu-west-1.amazonaws.com"


def test_boto3_endpoint_overrides_from_the_environment_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566")
    assert make_client("sqs", region="us-east-1").meta.endpoint_url == "http://127.0.0.1:4566"
    assert make_client("pinpoint", region="us-east-1").meta.endpoint_url.startswith("https://pinpoint.")


def test_an_explicit_endpoint_wins() -> None:
    client = make_client("pinpoint", region="us-east-1", endpoint_url="http://127.0.0.1:9999")
    assert client.meta.endpoint_url == "http://127.0.0.1:9999"
