"""A Lambda cold start imports only what the handler runs: measured in a fresh interpreter per handler.

Each case starts ``python -c`` with the deployed settings (aws backend, every sink the template can turn on
that needs no Pinpoint), runs the handler module's own cold start, and lists the top-level packages loaded.
The packages below are installed (dev and runtime) but never used by a deployed handler's code path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Never needed by a deployed handler: boto3's resource layer and S3 transfers (pue uses botocore clients),
# multiprocessing (s3transfer's), the OAuth client of segment-analytics-python with jwt and cryptography,
# the local backend's SQLite store.
NEVER = {"boto3", "s3transfer", "multiprocessing", "jwt", "cryptography", "sqlite3", "_sqlite3"}
NEVER_MODULES = {"destinations.local", "segment.analytics.client", "segment.analytics.oauth_manager"}

AWS_SETTINGS = {
    "PUE_BACKEND": "aws",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "PERSONALIZE_TRACKING_ID": "tracking",
    "PERSONALIZE_CAMPAIGN_ARN": "arn:aws:personalize:us-east-1:123456789012:campaign/pue",
    "PUE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters",
    "PUE_DEAD_LETTER_BUCKET": "dead-letters",
    "SEGMENT_WRITE_KEY": "write-key",  # the Personas sink on: the one that used to pull in jwt
    "PUE_CUSTOMER_PROFILES_DOMAIN": "pue-domain",
}
COLD_START = """
import json, sys
import consumers.kinesis as handler
pipeline = handler._cold_start()
print(json.dumps({"sinks": [s.name for s in pipeline.sinks], "modules": sorted(sys.modules)}))
"""


def loaded_after_cold_start(code: str, env: dict[str, str]) -> dict[str, Any]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("PUE_", "AWS_", "SEGMENT_", "PERSONALIZE_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_the_kinesis_cold_start_loads_no_package_the_handler_never_runs() -> None:
    loaded = loaded_after_cold_start(COLD_START, AWS_SETTINGS)
    assert {"personas", "customer-profiles"} <= set(loaded["sinks"])  # the sinks were really wired
    modules = set(loaded["modules"])
    assert {"botocore", "requests", "dateutil"} <= modules  # what the Personas and AWS sinks do use
    assert {m.split(".")[0] for m in modules} & NEVER == set()
    assert {m for m in modules if m.startswith(tuple(NEVER_MODULES))} == set()


def test_the_segment_request_module_loads_alone_and_leaves_the_library_whole() -> None:
    code = """
import json, sys
from destinations.segment.tracking_request import segment_request_module
request = segment_request_module()
alone = sorted(sys.modules)
import segment.analytics
print(json.dumps({"sinks": [], "modules": alone, "client": segment.analytics.Client.__name__,
                  "post": callable(request.post), "later": callable(segment.analytics.request.post)}))
"""
    loaded = loaded_after_cold_start(code, {})
    assert not {m for m in loaded["modules"] if m.startswith(("segment.analytics", "jwt", "cryptography"))}
    assert loaded["client"] == "Client" and loaded["post"] and loaded["later"]


@pytest.mark.parametrize("module", ["consumers.api", "consumers.campaign_hook", "consumers.segment_import"])
def test_importing_any_handler_loads_no_cloud_sdk(module: str) -> None:
    code = f"import json, sys, {module}\nprint(json.dumps({{'sinks': [], 'modules': sorted(sys.modules)}}))"
    modules = set(loaded_after_cold_start(code, {})["modules"])
    assert {m.split(".")[0] for m in modules} & (NEVER | {"botocore", "requests", "segment"}) == set()
