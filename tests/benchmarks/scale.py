"""``make bench-scale``: `pue replay` of generated Segment archives at 100k and 1M interactions (issue 15).

    .venv/bin/python -m tests.benchmarks.scale [--sizes 100000,1000000] [--items 30000] [--queries 2000]

For each size: the archive (tests/benchmarks/archive.py, generated once into ``--out``) is replayed by
``pue replay`` in a child process into a fresh state dir (a backfill: each user refreshed once at the end).
Measured: wall seconds and records/s, the child's CPU seconds (user + system) and records per CPU second
(the wall rate on a shared machine depends on everyone else's load; the CPU rate does not), the child's
peak RSS, and the store's bytes per interaction (every file of the SQLite store after the process ended).
Then ``GET /recommendations`` through the WSGI app, in process, with the cache off, for ``--queries``
random users: p50 / p99 / max milliseconds. Results: stdout and ``bench-results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.benchmarks import archive, provenance

ROOT = Path(__file__).resolve().parents[2]


def _say(message: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def replay_run(
    source: Path,
    state: Path,
    workers: int | None = None,
    python: str = sys.executable,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One ``pue replay`` child process: its summary line, wall and CPU time, peak RSS, store size.

    ``pue replay`` may start processes of its own (``--workers``): CPU seconds are the whole tree's
    (wait4 counts a process's children once it has waited for them, and pue replay waits for its workers);
    peak RSS is the highest sum over the tree's processes at one moment (sampled from /proc every 0.1 s),
    and ``peak_rss_bound_mb`` the sum of each process's own peak (an upper bound of it).
    """
    command = [python, "-m", "consumers.cli", "replay", str(source), "--state", str(state)]
    if workers is not None:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd, env=env
    )
    sampler = tree_sampler(child.pid)
    assert child.stdout is not None
    out = child.stdout.read()
    # wait4: this child's CPU time (and its waited-for workers'); RUSAGE_CHILDREN would add up every child.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    tree = sampler()
    if child.returncode != 0:
        raise RuntimeError(f"pue replay exited {child.returncode}: {out[-500:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    store_bytes = sum(f.stat().st_size for f in state.glob("pue.sqlite3*"))
    return {
        "summary": summary,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "main_cpu_seconds": tree["main_cpu_seconds"],
        "worker_cpu_seconds": tree["worker_cpu_seconds"],
        "processes": tree["processes"],
        # The tree's; without /proc (macOS), the child's own peak (its workers' are not in it).
        "peak_rss_mb": tree["peak_rss_mb"] or round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "peak_rss_bound_mb": tree["peak_rss_bound_mb"],
        "peak_rss_at_seconds": tree["peak_rss_at_seconds"],
        "peak_rss_parts_mb": tree["peak_rss_parts_mb"],
        "own_peak_rss_mb": tree["own_peak_rss_mb"],
        "store_bytes": store_bytes,
    }


def tree_sampler(pid: int, interval: float = 0.1) -> Any:
    """Sample ``pid`` and its descendants from /proc until it exits; call the result for the figures."""
    seen: dict[int, dict[str, float]] = {}  # pid -> last CPU seconds, own peak RSS (MB)
    names: dict[int, str] = {}  # pid -> its command name (java, python3...)
    # pid -> "main", "resource tracker" or "child N" (N: the order first seen; pue replay starts its intake
    # process first, its refresh workers at the end)
    roles: dict[int, str] = {}
    peak = [0.0]
    at_peak: dict[str, Any] = {"seconds": 0.0, "mb": []}  # when the tree's peak was sampled, and its parts
    began = time.perf_counter()
    stop = threading.Event()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def sample() -> None:
        while not stop.is_set():
            total = 0.0
            parts: list[tuple[str, float]] = []
            for member in _descendants(pid):
                read = _proc_figures(member, tick)
                if read is None:
                    continue
                cpu, rss, hwm, names[member] = read  # the latest name: a launcher script execs java
                entry = seen.setdefault(member, {"cpu": 0.0, "hwm": 0.0})
                entry["cpu"] = cpu
                entry["hwm"] = max(entry["hwm"], hwm)
                total += rss
                if member not in roles:
                    roles[member] = _role(member, pid, len(roles))
                parts.append((roles[member], round(rss, 1)))
            if total > peak[0]:
                peak[0] = total
                at_peak.update(seconds=round(time.perf_counter() - began, 1), mb=sorted(parts))
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    if Path(f"/proc/{pid}").exists():
        thread.start()

    def figures() -> dict[str, Any]:
        stop.set()
        if thread.is_alive():
            thread.join()
        main = seen.get(pid, {"cpu": 0.0, "hwm": 0.0})
        workers = [entry for member, entry in seen.items() if member != pid]
        return {
            "main_cpu_seconds": round(main["cpu"], 1),  # as last sampled (up to `interval` short)
            "worker_cpu_seconds": round(sum(w["cpu"] for w in workers), 1),
            "processes": len(seen),
            "peak_rss_mb": round(peak[0], 1),
            "peak_rss_bound_mb": round(sum(entry["hwm"] for entry in seen.values()), 1),
            # What the tree's peak was made of, and when (seconds from the start): which processes at once
            "peak_rss_at_seconds": at_peak["seconds"],
            "peak_rss_parts_mb": dict(at_peak["mb"]),
            "own_peak_rss_mb": {roles[m]: round(e["hwm"], 1) for m, e in seen.items() if m in roles},
            # the largest peak of one process of each name: one executor's JVM, one Python worker
            "peak_rss_by_name_mb": {
                name: round(max(seen[m]["hwm"] for m in names if names[m] == name), 1)
                for name in sorted(set(names.values()))
            },
        }

    return figures


def _descendants(root: int) -> list[int]:
    found, todo = [], [root]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                pass
    return found


def _proc_figures(member: int, tick: int) -> tuple[float, float, float, str] | None:
    """A process's CPU seconds (user + system), RSS and peak RSS (MB) and command name; None once gone."""
    try:
        stat = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{member}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    hwm = int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
    return (int(stat[11]) + int(stat[12])) / tick, rss, hwm, fields.get("Name", "").strip()


def _role(member: int, root: int, known: int) -> str:
    if member == root:
        return "main"
    try:
        command = Path(f"/proc/{member}/cmdline").read_bytes()
    except OSError:
        command = b""
    return "resource tracker" if b"resource_tracker" in command else f"child {known}"


def query_latencies(state: Path, queries: int, seed: int = 15) -> dict[str, float]:
    """GET /recommendations for random known users through the WSGI app, cache off; milliseconds."""
    from consumers.bootstrap.api import build_api
    from consumers.cli.arguments import local_settings
    from consumers.config.api_settings import ApiSettings
    from consumers.web.wsgi import WsgiApp

    # Rate limiting off (PUE_RATE_LIMIT=0): this measures a query's cost, and the queries come back to back.
    api = build_api(
        local_settings(str(state)),
        ApiSettings(api_keys=("bench-key",), cache_entries=0, rate_limit=None, events_rate_limit=None),
    )
    app = WsgiApp(api)
    try:
        from destinations.local.store import LocalStore

        with LocalStore.in_state_dir(state) as store:
            users = store.known_users(limit=1_000_000)
        rng = random.Random(seed)  # noqa: S311 - benchmark sampling
        times, cpu = [], []
        for _ in range(queries):
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/recommendations",
                "QUERY_STRING": f"userId={rng.choice(users)}&numResults=25",
                "HTTP_X_API_KEY": "bench-key",
                "wsgi.input": None,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "0",
                "wsgi.url_scheme": "http",
            }
            started, started_cpu = time.perf_counter(), time.thread_time()
            status: list[str] = []
            body = b"".join(app(environ, _recorder(status)))
            times.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
            if not status or not status[0].startswith("200") or b'"items"' not in body:
                raise RuntimeError(f"GET /recommendations failed: {status} {body[:200]!r}")
    finally:
        api.close()
    times.sort()
    cpu.sort()
    return {
        "queries": queries,
        "p50_ms": round(times[len(times) // 2] * 1e3, 2),
        "p99_ms": round(times[int(len(times) * 0.99)] * 1e3, 2),
        "max_ms": round(times[-1] * 1e3, 2),
        # CPU time of the request's thread: what the request costs, without the waits for a core that a
        # loaded shared machine adds to the wall time.
        "cpu_p50_ms": round(cpu[len(cpu) // 2] * 1e3, 2),
        "cpu_p99_ms": round(cpu[int(len(cpu) * 0.99)] * 1e3, 2),
    }


def _recorder(status: list[str]) -> Any:
    def start_response(line: str, headers: Any, *_: Any) -> None:
        status.append(line)

    return start_response


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="100000,1000000", help="archive sizes, comma-separated")
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument(
        "--shape",
        choices=sorted(archive.SHAPES),
        default="shop",
        help="archive shape (tests/benchmarks/archive.py); results in scale.json, scale-visitors.json",
    )
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument(
        "--workers", type=int, default=None, help="pue replay --workers (default: pue replay's own default)"
    )
    args = parser.parse_args(argv)
    run = provenance.begin()
    work = args.out / "scale"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        suffix = "" if args.shape == "shop" else f"-{args.shape}"
        source = work / f"archive-{size}-{args.items}{suffix}.jsonl.gz"
        if not source.exists():
            _say(f"generating {size:,} interactions over {args.items:,} items ({args.shape})")
            archive.write(source, size, args.items, shape=args.shape)
        state = work / f"state-{size}{suffix}"
        for stale in state.glob("pue.sqlite3*"):
            stale.unlink()
        _say(f"pue replay {source.name}")
        row: dict[str, Any] = {"interactions": size, "shape": args.shape}
        row["load_average_before"] = os.getloadavg()[0]
        row.update(replay_run(source, state, args.workers))
        row["records_per_second"] = round(size / row["wall_seconds"])
        row["records_per_cpu_second"] = round(size / row["cpu_seconds"])
        row["bytes_per_interaction"] = round(row["store_bytes"] / size)
        _say(f"queries on the {size:,} store")
        row["recommendations"] = query_latencies(state, args.queries)
        rows.append(row)
        _say(json.dumps(row))
    name = "scale.json" if args.shape == "shop" else f"scale-{args.shape}.json"
    provenance.write(args.out / name, {"rows": rows}, run)
    print(table(rows))
    return 0


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| interactions | wall s | records/s | CPU s, all processes (main) | records/CPU s "
        "| peak RSS MB, all processes | bytes/interaction "
        "| GET /recommendations p50 / p99 ms, wall (CPU) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        q = r["recommendations"]
        lines.append(
            f"| {r['interactions']:,} | {r['wall_seconds']} | {r['records_per_second']:,} "
            f"| {r['cpu_seconds']} ({r['main_cpu_seconds']}) | {r['records_per_cpu_second']:,} "
            f"| {r['peak_rss_mb']} "
            f"| {r['bytes_per_interaction']} "
            f"| {q['p50_ms']} / {q['p99_ms']} ({q['cpu_p50_ms']} / {q['cpu_p99_ms']}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
