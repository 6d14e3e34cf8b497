"""Customer Profiles calls per refreshed user, for the default engagement configuration (``make bench``).

The default configuration: ``PUE_CUSTOMER_PROFILES_DOMAIN`` set, the ``_account`` search key, no creation.
The sample clickstream runs through the real pipeline on the local backend in Lambda-sized batches; the
Customer Profiles sink talks to a real botocore client whose calls are answered in memory (every user has one
profile) and counted as botocore makes them, before any answer: nothing here dedupes or skips a call.

Two containers are compared within one run: *warm*, one pipeline for the whole stream (a Lambda container
that stays up), and *cold*, a new pipeline per batch (a new sink, so an empty profile-id cache: what every
batch cost before the cache). ``steady`` counts only the refreshes of users the container had already seen.

    .venv/bin/python -m tests.benchmarks.profile_calls [--users N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.runners.lambda_events import lambda_events
from consumers.runners.replay import replay
from consumers.runners.sample_data import clickstream

DOMAIN = "pue-bench"
BATCH_SIZE = 100


class CountingProfiles:
    """A customer-profiles client answered in memory: one profile per user; counts every call by name."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "customer-profiles", region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b"
        )
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._params = threading.local()  # the sink calls from its worker threads
        events = self.client.meta.events
        events.register("before-parameter-build.customer-profiles", self._remember)
        events.register("before-call.customer-profiles", self._answer)

    def _remember(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._params.value = dict(params)
        with self._lock:
            self.calls[model.name] += 1

    def _answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        params = self._params.value
        if model.name == "SearchProfiles":
            parsed: dict[str, Any] = {"Items": [{"ProfileId": f"profile-{params['Values'][0]}"}]}
        elif model.name == "UpdateProfile":
            parsed = {"ProfileId": params["ProfileId"]}
        else:
            raise AssertionError(f"the default configuration never calls {model.name}")
        return AWSResponse(None, 200, {}, None), parsed


def _run(events: list[dict[str, Any]], state: Path, *, warm: bool) -> dict[str, Any]:
    profiles = CountingProfiles()
    settings = Settings(state_dir=state)
    engagement = EngagementSettings(customer_profiles_domain=DOMAIN)
    refreshed = 0
    batches = [events] if warm else [[event] for event in events]
    for batch in batches:  # warm: one container for the stream; cold: one per batch
        pipeline, _ = build_pipeline(
            settings, clients={"customer-profiles": profiles.client}, engagement=engagement
        )
        try:
            refreshed += replay(iter(batch), pipeline).users_refreshed
        finally:
            pipeline.close()
    searches, updates = profiles.calls["SearchProfiles"], profiles.calls["UpdateProfile"]
    # A user's first refresh in a container is one search and one update; the rest are the steady state.
    first_sights = searches
    steady_refreshes = refreshed - first_sights
    return {
        "users_refreshed": refreshed,
        "calls": dict(profiles.calls),
        "calls_per_refreshed_user": (searches + updates) / max(refreshed, 1),
        "steady_calls_per_refreshed_user": (updates - first_sights) / max(steady_refreshes, 1)
        if warm
        else (searches + updates) / max(refreshed, 1),
    }


def measure(users: int = 300) -> dict[str, Any]:
    payloads = [json.dumps(m).encode() for m in clickstream(users=users)]
    events = list(lambda_events(payloads, batch_size=BATCH_SIZE))
    with tempfile.TemporaryDirectory(prefix="pue-bench-profiles-") as scratch:
        warm = _run(events, Path(scratch) / "warm", warm=True)
        cold = _run(events, Path(scratch) / "cold", warm=False)
    return {"users": users, "messages": len(payloads), "batches": len(events), "warm": warm, "cold": cold}


def lines(result: dict[str, Any]) -> list[str]:
    warm, cold = result["warm"], result["cold"]
    return [
        "",
        f"Customer Profiles calls per refreshed user (default configuration; {result['users']} sample users, "
        f"{result['batches']} batches of {BATCH_SIZE} records)",
        f"   warm container (cache)     {warm['calls_per_refreshed_user']:.2f} overall, "
        f"{warm['steady_calls_per_refreshed_user']:.2f} in steady state   {warm['calls']}",
        f"   a new container per batch  {cold['calls_per_refreshed_user']:.2f}   {cold['calls']}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.profile_calls", description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args(argv)
    print("\n".join(lines(measure(args.users))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
