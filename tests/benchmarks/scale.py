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
import time
from pathlib import Path
from typing import Any

from tests.benchmarks import archive

ROOT = Path(__file__).resolve().parents[2]


def _say(message: str) -> None:
    print(f"[bench-scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def replay_run(source: Path, state: Path) -> dict[str, Any]:
    """One ``pue replay`` child process: its summary line, wall and CPU time, peak RSS, store size."""
    command = [sys.executable, "-m", "consumers.cli", "replay", str(source), "--state", str(state)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    # wait4: this child's own CPU time and peak RSS (RUSAGE_CHILDREN would add up every child so far).
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"pue replay exited {child.returncode}: {out[-500:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    store_bytes = sum(f.stat().st_size for f in state.glob("pue.sqlite3*"))
    return {
        "summary": summary,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "store_bytes": store_bytes,
    }


def query_latencies(state: Path, queries: int, seed: int = 15) -> dict[str, float]:
    """GET /recommendations for random known users through the WSGI app, cache off; milliseconds."""
    from consumers.bootstrap.api import build_api
    from consumers.cli.arguments import local_settings
    from consumers.config.api_settings import ApiSettings
    from consumers.web.wsgi import WsgiApp

    api = build_api(local_settings(str(state)), ApiSettings(api_keys=("bench-key",), cache_entries=0))
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
            if not status or not status[0].startswith("200") or b"\"items\"" not in body:
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
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    work = args.out / "scale"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        source = work / f"archive-{size}-{args.items}.jsonl.gz"
        if not source.exists():
            _say(f"generating {size:,} interactions over {args.items:,} items")
            archive.write(source, size, args.items)
        state = work / f"state-{size}"
        for stale in state.glob("pue.sqlite3*"):
            stale.unlink()
        _say(f"pue replay {source.name}")
        row: dict[str, Any] = {"interactions": size, **replay_run(source, state)}
        row["records_per_second"] = round(size / row["wall_seconds"])
        row["records_per_cpu_second"] = round(size / row["cpu_seconds"])
        row["bytes_per_interaction"] = round(row["store_bytes"] / size)
        _say(f"queries on the {size:,} store")
        row["recommendations"] = query_latencies(state, args.queries)
        rows.append(row)
        _say(json.dumps(row))
    (args.out / "scale.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    return 0


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| interactions | wall s | records/s | CPU s | records/CPU s | peak RSS MB | bytes/interaction "
        "| GET /recommendations p50 / p99 ms, wall (CPU) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        q = r["recommendations"]
        lines.append(
            f"| {r['interactions']:,} | {r['wall_seconds']} | {r['records_per_second']:,} "
            f"| {r['cpu_seconds']} | {r['records_per_cpu_second']:,} | {r['peak_rss_mb']} "
            f"| {r['bytes_per_interaction']} "
            f"| {q['p50_ms']} / {q['p99_ms']} ({q['cpu_p50_ms']} / {q['cpu_p99_ms']}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
