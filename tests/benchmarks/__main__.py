"""``make bench``: the six figures of pue's performance, against the loopback cloud fake, then Customer
Profiles calls per refreshed user (``profile_calls``). About 4 minutes.

    .venv/bin/python -m tests.benchmarks [--quick] [--update-docs]
    .venv/bin/python -m tests.benchmarks --api [api_load options]   the HTTP API load figure alone (wrk)
    .venv/bin/python -m tests.benchmarks --cold-start   figure 7 alone: Lambda cold start from the bundle

Writes ``bench-results/results.json`` and ``bench-results/bench-calls.png`` and prints the table; with
``--update-docs`` also copies the plot to ``docs/bench-calls.png``. See docs/performance.md for what each
figure means and how the lower bound is computed. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tests.benchmarks import api_load, bundle_cold_start, cold_start, cpu, profile_calls, provenance, report
from tests.benchmarks.measure import Harness
from tests.benchmarks.plot import plot
from tests.benchmarks.workload import WorkloadSpec, lambda_event
from tests.support.cloud_fake import CloudFake

ROOT = Path(__file__).resolve().parents[2]
SIZES = (100, 1000, 10_000)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--latency", type=float, default=0.020, help="seconds per call (default 0.020)")
    parser.add_argument("--pool", type=int, default=16, help="PUE_MAX_WORKERS (default 16, pue's default)")
    parser.add_argument("--repeats", type=int, default=5, help="pue runs per batch size below 10,000")
    parser.add_argument(
        "--reference-records",
        type=int,
        default=1000,
        help="run the per-record reference on this many of the 1,000 records and scale linearly",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats, reference on 100 records")
    parser.add_argument("--update-docs", action="store_true", help="also write docs/bench-calls.png")
    parser.add_argument(
        "--api",
        action="store_true",
        help="only the HTTP API load figure (tests/benchmarks/api_load.py: --api --help for its options)",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="only figure 7: the Kinesis handler's cold start from the built bundle, before and after",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile a 1,000-record run: bench-results/profile-1000.txt",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.reference_records = 1, min(args.reference_records, 100)
    return args


def _stream_figures(args: argparse.Namespace, results: dict[str, Any]) -> None:
    with CloudFake(latency=args.latency) as fake:
        harness = Harness(fake, ROOT, args.out, latency=args.latency, pool=args.pool)
        batches = {size: harness.batch(size) for size in SIZES}
        scaling = []
        for size in SIZES:
            repeats = 1 if size >= 10_000 else args.repeats
            _say(f"pue, {size:,} records × {repeats}")
            scaling.append(harness.runs(batches[size], repeats))
        results["scaling"] = scaling
        results["batch_1000"] = next(row for row in scaling if row["records"] == 1000)
        if args.profile:
            _say("profiling one 1,000-record run (cProfile in every thread)")
            harness.run("pue", batches[1000].path, profile=args.out / "profile-1000.txt")
        _say("pool floor")
        results["floor"] = harness.floor(batches[1000].shape.total_calls)
        seconds = args.reference_records * 6 * args.latency * 1.1
        _say(f"per-record reference, {args.reference_records:,} records (about {seconds:.0f} s)")
        results["reference"] = harness.reference(batches[1000], args.reference_records)
        largest = scaling[-1]
        results["memory"] = {
            "records": largest["records"],
            "event_mb": largest["event_bytes"] / 1e6,
            "peak_rss_mb": largest["peak_rss_kb"] / 1024,
            "before_batch_mb": largest["rss_before_batch_kb"] / 1024,
        }
        results["cold_start"] = cold_start.measure(fake.env(), root=ROOT, repeats=5 if args.quick else 11)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--api" in argv:  # its own options, so it is dispatched before this parser sees them
        return api_load.main([a for a in argv if a != "--api"])
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started, run = time.perf_counter(), provenance.begin()
    results: dict[str, Any] = {
        "command": "make bench  (.venv/bin/python -m tests.benchmarks"
        + "".join(f" {a}" for a in sys.argv[1:])
        + ")",
        "machine": report.machine(),
        "settings": {"latency_seconds": args.latency, "pool": args.pool},
    }
    if args.cold_start:
        return _bundle_cold_start(args, results, run)
    _stream_figures(args, results)
    _say("CPU per record")
    event = lambda_event(WorkloadSpec(records=10_000))
    results["cpu"] = cpu.measure(event)
    results["cpu"]["plain"] = cpu.measure(lambda_event(WorkloadSpec(records=10_000, kpl_every=0)))
    _say("Customer Profiles calls per refreshed user")
    results["profile_calls"] = profile_calls.measure()
    _say("cold start from the bundle (figure 7)")
    results["bundle_cold_start"] = _bundle_figure(args)
    results["goals"] = report.goals(results)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    provenance.write(args.out / "results.json", results, run)
    png = args.out / "bench-calls.png"
    plot(results, png)
    if args.update_docs:
        shutil.copyfile(png, ROOT / "docs" / "bench-calls.png")
    print(report.table(results))
    print("\n".join(bundle_cold_start.lines(results["bundle_cold_start"])))
    print(f"\n{results['seconds']:.0f} s; results in {args.out / 'results.json'}, plot in {png}")
    return 0


def _bundle_figure(args: argparse.Namespace) -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("pue_bundle", ROOT / "deploy" / "bundle.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    python = tool.find_python(tool.runtime_and_arch()[0], None)
    return bundle_cold_start.measure(ROOT, python, repeats=5 if args.quick else 11)


def _bundle_cold_start(args: argparse.Namespace, results: dict[str, Any], run: provenance.Run) -> int:
    _say("cold start from the bundle (figure 7)")
    results["bundle_cold_start"] = _bundle_figure(args)
    provenance.write(args.out / "cold-start.json", results, run)
    print("\n".join(bundle_cold_start.lines(results["bundle_cold_start"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
