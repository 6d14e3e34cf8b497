"""What ``GET /stats`` costs after N distinct unmapped event names (issue 14 item 4).

    .venv/bin/python -m tests.benchmarks.stats_variety [--names 200000]

Feeds N messages, each a distinct unmapped event name, through the pipeline on a fresh local state dir
(batches of 500, as ``pue replay``), then times ``GET /stats`` through the API router (median of 20 calls
after a warm-up) and counts the rows of the reason tables it reads. Prints one JSON line. Written against
APIs that predate the fix too, so the same script measures both sides of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from consumers.bootstrap.api import build_api
from consumers.bootstrap.stream import build_pipeline
from consumers.config.api_settings import ApiSettings
from consumers.config.settings import Settings
from consumers.web.contract import ApiRequest
from tests.factories import kinesis_event, segment_track

BATCH = 500
CALLS = 20
_KEY = "bench-key-0123456789abcdef"


def measure(names: int, state: Path) -> dict[str, float | int]:
    settings = dataclasses.replace(Settings(), state_dir=state)
    pipeline, wiring = build_pipeline(settings)
    try:
        for start in range(0, names, BATCH):
            messages = [
                segment_track(f"Custom Event {n:07d}", user_id=f"u{n}", message_id=f"m{n}")
                for n in range(start, min(start + BATCH, names))
            ]
            pipeline.handle(kinesis_event(messages, start_sequence=start)["Records"])
    finally:
        pipeline.close()
        if wiring.local is not None:
            wiring.local.close()
    api = build_api(settings, ApiSettings(api_keys=(_KEY,)))
    try:
        request = ApiRequest("GET", "/stats", (), {"x-api-key": _KEY}, b"")
        body = api.handle(request).body
        seconds = []
        for _ in range(CALLS):
            started = time.perf_counter()
            api.handle(request)
            seconds.append(time.perf_counter() - started)
    finally:
        api.close()
    with sqlite3.connect(state / "pue.sqlite3") as conn:
        rows = sum(
            conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            for (table,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'pipeline_%'"
            )
        )
    return {
        "names": names,
        "stats_ms_median": round(statistics.median(seconds) * 1000, 2),
        "stats_rows": rows,
        "stats_body_bytes": len(body),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.stats_variety", description=__doc__)
    parser.add_argument("--names", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        print(json.dumps(measure(args.names, Path(scratch) / "state")))


if __name__ == "__main__":
    main()
