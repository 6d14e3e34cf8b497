"""Runs the measured batches, each in a fresh child process (``tests.benchmarks.runner``), against one fake.

The fake runs in this process, the code under test in the child, so they do not share a GIL (on Lambda the
services are elsewhere too) and the child's peak RSS is the batch's own.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.benchmarks.bounds import BatchShape, shape
from tests.benchmarks.workload import WorkloadSpec, event_bytes, lambda_event
from tests.support.cloud_fake import CloudFake

WARMUP_RECORDS = 64


@dataclass(frozen=True, slots=True)
class Batch:
    records: int
    path: Path
    bytes: int
    shape: BatchShape


class Harness:
    def __init__(self, fake: CloudFake, root: Path, out: Path, *, latency: float, pool: int) -> None:
        self.fake = fake
        self.root = root
        self.out = out
        self.latency = latency
        self.pool = pool
        self.events = out / "events"
        self.events.mkdir(parents=True, exist_ok=True)
        warm = lambda_event(WorkloadSpec(records=WARMUP_RECORDS, seed=99, user_prefix="warm"))
        self.warmup = self._write("warmup.json", warm)
        self.floor_warmup = self._write("floor-warmup.json", {"calls": WARMUP_RECORDS})

    def _write(self, name: str, data: Any) -> Path:
        path = self.events / name
        path.write_text(json.dumps(data, separators=(",", ":")))
        return path

    def batch(self, records: int) -> Batch:
        event = lambda_event(WorkloadSpec(records=records))
        path = self._write(f"batch-{records}.json", event)
        return Batch(records, path, event_bytes(event), shape(event, self.fake.services.endpoints_of))

    def run(
        self,
        mode: str,
        event: Path,
        *,
        limit: int = 0,
        warmup: Path | None = None,
        profile: Path | None = None,
    ) -> dict[str, Any]:
        env = {
            **os.environ,
            **self.fake.env(PUE_MAX_WORKERS=str(self.pool), PUE_LOG_LEVEL="WARNING"),
            "PYTHONPATH": str(self.root),
        }
        command = [sys.executable, "-m", "tests.benchmarks.runner", "--mode", mode, "--event", str(event)]
        command += ["--warmup", str(warmup or self.warmup)]
        if limit:
            command += ["--limit", str(limit)]
        if profile is not None:
            command += ["--profile", str(profile)]
        done = subprocess.run(command, env=env, cwd=self.root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{mode} run failed ({done.returncode}):\n{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["stderr_lines"] = len(done.stderr.splitlines())
        return result

    def runs(self, batch: Batch, repeats: int) -> dict[str, Any]:
        """``repeats`` pue runs of the batch; the median wall time counts (machines share cores)."""
        results = [self.run("pue", batch.path) for _ in range(repeats)]
        walls = [r["wall_seconds"] for r in results]
        median = sorted(results, key=lambda r: r["wall_seconds"])[len(results) // 2]
        bound = batch.shape.lower_bound(self.latency, self.pool)
        return {
            "records": batch.records,
            "user_messages": batch.shape.user_records,
            "interactions": batch.shape.interactions,
            "event_bytes": batch.bytes,
            "wall_seconds": statistics.median(walls),
            "wall_runs": walls,
            "cpu_seconds": median["cpu_seconds"],
            "peak_rss_kb": max(r["peak_rss_kb"] for r in results),
            "rss_before_batch_kb": median["rss_before_batch_kb"],
            "peak_in_flight": max(r["peak_in_flight"] for r in results),
            "calls": median["calls"],
            "fewest": {call.value: count for call, count in batch.shape.fewest.items()},
            "lower_bound": bound,
            "ratio_to_bound": statistics.median(walls) / bound["seconds"],
        }

    def reference(self, batch: Batch, limit: int) -> dict[str, Any]:
        """The per-record reference on the batch (or its first ``limit`` records, scaled linearly)."""
        result = self.run("reference", batch.path, limit=limit if limit < batch.records else 0)
        scale = batch.records / result["records"]
        return {
            "records_run": result["records"],
            "scaled_from_records": result["records"] if scale != 1 else None,
            "wall_seconds": result["wall_seconds"] * scale,
            "measured_wall_seconds": result["wall_seconds"],
            "cpu_seconds": result["cpu_seconds"] * scale,
            "calls": {name: round(count * scale) for name, count in result["calls"].items()},
            "peak_in_flight": result["peak_in_flight"],
        }

    def floor(self, calls: int) -> dict[str, Any]:
        path = self._write(f"floor-{calls}.json", {"calls": calls})
        result = self.run("floor", path, warmup=self.floor_warmup)
        ideal = calls * self.latency / self.pool
        return {
            "calls": calls,
            "wall_seconds": result["wall_seconds"],
            "ratio_to_bound": result["wall_seconds"] / ideal,
        }
