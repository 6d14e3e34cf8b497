"""One measured batch in a fresh process (its peak RSS is the batch's own): ``-m tests.benchmarks.runner``.

Modes: ``pue`` (the Lambda handler), ``reference`` (the per-record handler), ``floor`` (a pool of bare boto3
calls; the "event" file is ``{"calls": N}``). The parent starts the cloud fake and passes its settings in the
environment (``CloudFake.env()``). This process builds pue as Lambda does (``Settings.from_env`` →
``build_pipeline``) or the per-record reference, runs a small warm-up batch (a warm container: clients built,
connections open, botocore's models loaded), then the measured event, read from a JSON file as the Lambda
runtime hands it over. It prints one JSON line: wall and CPU seconds of the batch, peak RSS, the peak of calls
in flight and the calls the fake counted during the batch (read from ``/_fake/stats``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import requests


def _stats(url: str) -> dict[str, Any]:
    response = requests.get(f"{url}/_fake/stats", timeout=5)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def _reset_peak(url: str) -> None:
    requests.post(f"{url}/_fake/peak/reset", timeout=5).raise_for_status()


def _rss_kb() -> int:
    """Current resident set size (Linux /proc), in KiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _floor(event: dict[str, Any]) -> None:
    """The pool floor: as many calls as the batch's fewest, all independent (no chain, no batching, no
    decoding), through a pool of ``PUE_MAX_WORKERS`` threads and the same clients: what Python and botocore
    allow on this machine."""
    from concurrent.futures import ThreadPoolExecutor

    from destinations.aws.clients import make_client

    workers = int(os.environ.get("PUE_MAX_WORKERS", "16"))
    client = make_client("personalize-runtime", max_pool_connections=workers)
    arn = os.environ["PERSONALIZE_CAMPAIGN_ARN"]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            pool.map(
                lambda n: client.get_recommendations(campaignArn=arn, userId=f"floor-{n}"),
                range(event["calls"]),
            )
        )


def _handler(mode: str) -> Any:
    if mode == "floor":
        return _floor
    if mode == "reference":
        from tests.benchmarks.reference import ReferenceHandler

        return ReferenceHandler(os.environ).handle
    from consumers.bootstrap.stream import build_pipeline
    from consumers.config.settings import Settings
    from consumers.stream.lambda_batch import handle_event

    pipeline, _ = build_pipeline(Settings.from_env())

    def run(event: dict[str, Any]) -> Any:
        response, result = handle_event(event, pipeline)
        if response["batchItemFailures"]:
            raise RuntimeError(f"{len(response['batchItemFailures'])} records failed: {result}")
        return result

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.runner")
    parser.add_argument("--mode", choices=("pue", "reference", "floor"), default="pue")
    parser.add_argument("--event", type=Path, required=True)
    parser.add_argument("--warmup", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="only the first N Kinesis records")
    parser.add_argument("--profile", type=Path, help="write where the batch's CPU went to this file")
    args = parser.parse_args(argv)
    url = os.environ["AWS_ENDPOINT_URL"]
    handle = _handler(args.mode)
    if args.warmup is not None:
        handle(json.loads(args.warmup.read_bytes()))
    rss_before = _rss_kb()
    event = json.loads(args.event.read_bytes())
    if args.limit and "Records" in event:
        event["Records"] = event["Records"][: args.limit]
    before = _stats(url)["calls"]
    _reset_peak(url)
    cpu, wall = time.process_time(), time.perf_counter()
    if args.profile is not None:
        from tests.benchmarks.cpu_profile import all_threads, summary

        with all_threads() as profiles:
            handle(event)
        args.profile.write_text(summary(profiles))
    else:
        handle(event)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = _stats(url)
    after: dict[str, int] = stats["calls"]
    result = {
        "mode": args.mode,
        "records": len(event.get("Records", ())),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_kb": _peak_kb(),
        "rss_before_batch_kb": rss_before,
        "peak_in_flight": stats["peak_in_flight"],
        "calls": {
            name: count - before.get(name, 0) for name, count in after.items() if count > before.get(name, 0)
        },
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
