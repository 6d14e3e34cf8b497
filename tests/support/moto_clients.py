"""boto3 clients on moto's in-process mock (``mock_aws``), whatever endpoint the environment points at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws


@contextmanager
def moto_client(service: str) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        # An endpoint URL in the environment (e.g. the loopback fake's) would send calls past the mock.
        for name in ("AWS_ENDPOINT_URL", f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"):
            patch.delenv(name, raising=False)
        yield boto3.client(
            service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
