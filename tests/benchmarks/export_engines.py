"""``pue export`` on one process against ``--engine spark`` in local[1] and local[2] (issue 25).

    .venv/bin/python -m tests.benchmarks.export_engines --messages 1000000 --files 16   (make bench-export)

The archive is the generated history of docs/onboarding.md (the demo clickstream, ids varied per block of
500 users), split into ``--files`` gzip files as a Segment S3 archive holds many (Spark reads one file per
task, so one big file would give it no parallelism). Each engine runs as its own ``pue export`` process on
that archive, one after the other; for each: wall time, messages/s and interactions/s, CPU seconds of the
whole process tree (JVM and Python workers included), and peak memory sampled every 0.2 s from /proc
(``scale.tree_sampler``): the whole tree, and the largest peak of one process of each name (the JVM, which
in local mode is the driver's and the executor's; one Python worker). The
summaries of the runs must agree (same counts), or the benchmark stops. Load average before and after, since
the machine is shared. Results: ``--out``/export_engines.json (default bench-results/), so
``python -m tests.benchmarks.against REF --result export_engines.json -- -m tests.benchmarks.export_engines
--engines single`` compares a release's single-process export (which predates ``--engine``) in one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

from consumers.runners.sample_data import clickstream
from tests.benchmarks import provenance
from tests.benchmarks.scale import tree_sampler

ROOT: Final = Path("/tmp/pue-bench-export")
RESULTS: Final = "export_engines.json"
# no --engine for one process: its default, and a release from before --engine runs it too
ENGINES: Final[tuple[tuple[str, list[str]], ...]] = (("single process", []),) + tuple(
    (f"spark local[{n}]", ["--engine", "spark", "--spark-master", f"local[{n}]"]) for n in (1, 2)
)


def generate(messages: int, files: int) -> Path:
    """The docs/onboarding.md generator's messages, dealt into ``files`` gzip files (cached by size)."""
    archive = ROOT / f"archive-{messages}-{files}"
    if (archive / ".done").exists():
        return archive
    archive.mkdir(parents=True, exist_ok=True)
    per_file = -(-messages // files)
    outs = [gzip.open(archive / f"part-{n:03d}.jsonl.gz", "wt", compresslevel=1) for n in range(files)]
    written, block = 0, 0
    while written < messages:
        for m in clickstream(users=500, seed=block):
            for key in ("messageId", "anonymousId", "userId"):
                if key in m:
                    m[key] = f"b{block}-{m[key]}"  # distinct users and events per block
            outs[written // per_file].write(json.dumps(m) + "\n")
            written += 1
            if written == messages:
                break
        block += 1
    for out in outs:
        out.close()
    (archive / ".done").touch()
    return archive


def run_engine(archive: Path, out: Path, args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "consumers.cli", "export", str(archive), "--out", str(out)]
    command += ["--user-fields", "plan", "--event-value", "--json", *args]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.perf_counter()
    log = out.with_suffix(".log")  # the step lines and Spark's own, kept for a failed run
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env)
        figures = tree_sampler(process.pid, interval=0.2)
        stdout, _ = process.communicate()
    wall = time.perf_counter() - started
    tree = figures()
    if process.returncode != 0:
        status = process.returncode
        raise SystemExit(f"pue export {' '.join(args)} failed with exit status {status}: see {log}")
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    cpu = tree["main_cpu_seconds"] + tree["worker_cpu_seconds"]
    by_name = tree["peak_rss_by_name_mb"]
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "messages_per_s": round(summary["messages"] / wall),
        "interactions_per_s": round(summary["interactions"] / wall),
        "messages_per_cpu_s": round(summary["messages"] / cpu) if cpu else None,
        "peak_tree_mb": round(tree["peak_rss_mb"]),
        "peak_jvm_mb": round(by_name.get("java", 0)),
        "peak_by_process_name_mb": by_name,
        "summary": {k: v for k, v in summary.items() if k not in ("seconds", "outputs")},
    }


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--engines", default="", help="comma-separated subset of: single,1,2")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="where the results go")
    args = parser.parse_args(argv)
    run = provenance.begin()
    chosen = [e for e in ENGINES if not args.engines or _key(e[0]) in args.engines.split(",")]
    archive = generate(args.messages, args.files)
    size = sum(p.stat().st_size for p in archive.glob("*.gz"))
    mb = size / 2**20
    print(f"archive: {args.messages:,} messages in {args.files} files, {mb:.0f} MB gzipped", flush=True)
    results: dict[str, Any] = {"messages": args.messages, "files": args.files, "load_before": os.getloadavg()}
    for name, engine_args in chosen:
        figures = run_engine(archive, ROOT / f"out-{_key(name)}", engine_args)
        results[name] = figures
        print(
            f"{name:<16} {figures['wall_s']:>7.1f} s  {figures['messages_per_s']:>7,} msg/s  "
            f"{figures['interactions_per_s']:>7,} rows/s  cpu {figures['cpu_s']:>6.1f} s "
            f"({figures['messages_per_cpu_s']:,} msg per cpu-s)  peak: tree {figures['peak_tree_mb']} MB, "
            f"jvm {figures['peak_jvm_mb']} MB, by process name {figures['peak_by_process_name_mb']}  "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    summaries = {json.dumps(results[name]["summary"], sort_keys=True) for name, _ in chosen}
    results["load_after"] = os.getloadavg()
    provenance.write(args.out / RESULTS, results, run)
    if len(summaries) != 1:
        print("the engines' summaries differ", file=sys.stderr)
        return 1
    print(f"same summary from every engine; load average {results['load_before']} -> {results['load_after']}")
    return 0


def _key(name: str) -> str:
    return "single" if name.startswith("single") else name[-2]


if __name__ == "__main__":
    raise SystemExit(main())
