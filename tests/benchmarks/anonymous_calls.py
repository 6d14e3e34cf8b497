"""The calls ``PUE_REFRESH_ANONYMOUS`` adds to a Kinesis batch, per service, measured on the real pipeline.

    .venv/bin/python -m tests.benchmarks.anonymous_calls [--records 1000] [--anonymous-share 0.05 0.5]

Figure 1's batch (``tests.benchmarks.workload``: 1,000 records, Zipf users, a new anonymousId every 12
messages, 5 % of users never identify) goes through the deployed code twice per anonymous share, the setting
off then on: ``build_pipeline`` on the AWS backend with every sink on (Segment traits and the Profile API,
Pinpoint endpoints, Customer Profiles), one Lambda invocation (``handle_event``). The calls are counted where
they arrive, never computed: Personalize, Segment and Pinpoint by the loopback ``CloudFake``, Customer
Profiles by a botocore client answered in memory (``profile_calls.CountingProfiles``: every id, user or
visitor, has one profile, so a first sight costs SearchProfiles + UpdateProfile). A new container per run: the
profile-id cache starts empty, as it does for a visitor seen for the first time, which is most visitors.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from tests.benchmarks.profile_calls import DOMAIN, CountingProfiles
from tests.benchmarks.workload import WorkloadSpec, lambda_event
from tests.support.cloud_fake import CloudFake


@contextmanager
def aws_environment(env: dict[str, str]) -> Iterator[None]:
    """botocore reads the endpoint, region and keys from the process environment: the fake's (loopback) for
    the run, then what was there before."""
    names = [name for name in env if name.startswith("AWS_")]
    before = {name: os.environ.get(name) for name in names}
    os.environ.update({name: env[name] for name in names})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(spec: WorkloadSpec, *, anonymous: bool) -> dict[str, Any]:
    """One invocation of figure 1's batch: calls per service, the batch's counts, and the wall time."""
    profiles = CountingProfiles()
    event = lambda_event(spec)
    with CloudFake() as fake:
        env = fake.env(PUE_REFRESH_ANONYMOUS=str(anonymous).lower(), PUE_LOG_LEVEL="ERROR")
        with aws_environment(env):
            settings = Settings.from_env(env)
            engagement = EngagementSettings(customer_profiles_domain=DOMAIN)
            pipeline, _ = build_pipeline(
                settings, clients={"customer-profiles": profiles.client}, engagement=engagement
            )
            try:
                started = time.perf_counter()
                _, result = handle_event(event, pipeline)
                seconds = time.perf_counter() - started
            finally:
                pipeline.close()
        calls = {str(call): n for call, n in fake.calls().items()}
    calls.update({f"CustomerProfiles {name}": n for name, n in profiles.calls.items()})
    assert result is not None, "the pipeline failed the whole batch"
    counts = result.counts
    return {
        "calls": dict(sorted(calls.items())),
        "total_calls": sum(calls.values()),
        "users_refreshed": counts.users_refreshed,
        "anonymous_refreshed": counts.anonymous_refreshed,
        "anonymous_skips": dict(counts.anonymous_skips),
        "failed_records": counts.failed,
        "seconds": round(seconds, 3),
    }


def compare(spec: WorkloadSpec) -> dict[str, Any]:
    off, on = run(spec, anonymous=False), run(spec, anonymous=True)
    extra = {name: on["calls"].get(name, 0) - off["calls"].get(name, 0) for name in on["calls"]}
    return {
        "records": spec.records,
        "anonymous_share": spec.anonymous_share,
        "off": off,
        "on": on,
        "extra_calls": {name: n for name, n in extra.items() if n},
        "extra_total": on["total_calls"] - off["total_calls"],
        "extra_ratio": round(on["total_calls"] / max(off["total_calls"], 1), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.anonymous_calls", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000)
    parser.add_argument(
        "--anonymous-share",
        type=float,
        nargs="+",
        default=[WorkloadSpec(1).anonymous_share, 0.5],
        help="shares of users who never identify (default: figure 1's 0.05, and 0.5)",
    )
    args = parser.parse_args(argv)
    reports = [compare(WorkloadSpec(args.records, anonymous_share=s)) for s in args.anonymous_share]
    print(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
