"""``pue export`` on one process against ``--engine spark`` in local[1] and local[2] (issue 25).

    .venv/bin/python -m tests.benchmarks.export_engines --messages 1000000 --files 16   (make bench-export)

The archive is the generated history of docs/onboarding.md (the demo clickstream, ids varied per block of
500 users), split into ``--files`` gzip files as a Segment S3 archive holds many (Spark reads one file per
task, so one big file would give it no parallelism). Each engine runs as its own ``pue export`` process on
that archive, one after the other; for each: wall time, messages/s and interactions/s, CPU seconds of the
whole process tree (JVM and Python workers included), and peak memory sampled every 0.2 s from /proc:
the whole tree, the JVM (the local-mode executor's JVM is the driver's), and the largest Python worker. The
summaries of the runs must agree (same counts), or the benchmark stops. Load average before and after, since
the machine is shared. Results: bench-results/export_engines.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from consumers.runners.sample_data import clickstream

ROOT: Final = Path("/tmp/pue-bench-export")
RESULTS: Final = Path("bench-results") / "export_engines.json"
ENGINES: Final = (("single process", ["--engine", "single"]),) + tuple(
    (f"spark local[{n}]", ["--engine", "spark", "--spark-master", f"local[{n}]"]) for n in (1, 2)
)
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")
_TICKS: Final = os.sysconf("SC_CLK_TCK")


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


def _tree(pid: int) -> list[int]:
    """The process and its descendants (children of every thread: the JVM forks from worker threads)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def _sample(pid: int) -> tuple[int, float, str]:
    """(RSS bytes, CPU seconds so far, command name) of one process; zeros when it is gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        stat = Path(f"/proc/{pid}/stat").read_text()
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, IndexError, ValueError):
        return 0, 0.0, ""
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime (proc(5) fields 14 and 15)
    return pages * _PAGE, cpu, name


class Sampler(threading.Thread):
    """Every 0.2 s over a process tree: peak RSS of all of it, of its JVM, of its largest Python worker;
    CPU time per process (the last value seen; a process's final 0.2 s may be missed)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop = pid, threading.Event()
        self.peak_tree = self.peak_jvm = self.peak_worker = 0
        self.cpu: dict[int, float] = {}

    def run(self) -> None:
        while not self.stop.wait(0.2):
            total = 0
            for pid in _tree(self.pid):
                rss, cpu, name = _sample(pid)
                total += rss
                if cpu:
                    self.cpu[pid] = cpu
                if name == "java":
                    self.peak_jvm = max(self.peak_jvm, rss)
                elif name.startswith(("python", "pyspark")) and pid != self.pid:
                    self.peak_worker = max(self.peak_worker, rss)
            self.peak_tree = max(self.peak_tree, total)


def run_engine(archive: Path, out: Path, args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "consumers.cli", "export", str(archive), "--out", str(out)]
    command += ["--user-fields", "plan", "--event-value", "--json", *args]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    sampler = Sampler(process.pid)
    sampler.start()
    stdout, _ = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"pue export {' '.join(args)} failed with exit status {process.returncode}")
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    cpu = sum(sampler.cpu.values())
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "messages_per_s": round(summary["messages"] / wall),
        "interactions_per_s": round(summary["interactions"] / wall),
        "messages_per_cpu_s": round(summary["messages"] / cpu) if cpu else None,
        "peak_tree_mb": round(sampler.peak_tree / 2**20),
        "peak_jvm_mb": round(sampler.peak_jvm / 2**20),
        "peak_python_worker_mb": round(sampler.peak_worker / 2**20),
        "summary": {k: v for k, v in summary.items() if k not in ("seconds", "outputs")},
    }


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--engines", default="", help="comma-separated subset of: single,1,2")
    args = parser.parse_args(argv)
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
            f"jvm {figures['peak_jvm_mb']} MB, python worker {figures['peak_python_worker_mb']} MB  "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    summaries = {json.dumps(results[name]["summary"], sort_keys=True) for name, _ in chosen}
    results["load_after"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    if len(summaries) != 1:
        print("the engines' summaries differ", file=sys.stderr)
        return 1
    print(f"same summary from every engine; load average {results['load_before']} -> {results['load_after']}")
    return 0


def _key(name: str) -> str:
    return "single" if name.startswith("single") else name[-2]


if __name__ == "__main__":
    raise SystemExit(main())
