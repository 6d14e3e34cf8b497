"""``make bench-concurrent``: ``pue serve`` taking live events while ``pue replay`` backfills the same state
dir (issue 24).

    .venv/bin/python -m tests.benchmarks.concurrent [--size 1000000] [--rate 20] [--items 30000]

Two runs back to back on the archive of ``make bench-scale`` (tests/benchmarks/archive.py): the replay
alone into a fresh state dir, then the same replay into another fresh one while ``pue serve`` runs on it
and a client POSTs ``--rate`` events a second (new messageIds, a few hundred live users) until the replay
ends. Measured: the replay's wall time and rate in each run and their ratio (goal: within 10 %), the POSTs'
status codes (goal: none failed) and latency (goal: p99 <= 100 ms), and, after the replay, how long the
server takes to store every event it took (they wait in the live inbox while the backfill holds the store).
Last, the same POSTs for 30 s to ``pue serve`` alone: the latency this machine gives them with no replay.
The machine's load average is printed with the figures. Results: stdout and bench-results/concurrent.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks import archive, provenance
from tests.benchmarks.scale import ROOT, replay_run

KEY = "bench-concurrent-key-8c2f"
LIVE_USERS = 300


def _say(message: str) -> None:
    print(f"[bench-concurrent {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(state: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PUE_API_KEY": KEY}
    command = [
        sys.executable,
        "-m",
        "consumers.cli",
        "serve",
        "--state",
        str(state),
        "--port",
        str(port),
        "-q",
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("pue serve did not answer /health within 60 s")


def _message(n: int) -> bytes:
    user = f"live-{n % LIVE_USERS}"
    return json.dumps(
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": f"live-event-{n}",
            "userId": user,
            "anonymousId": f"anon-{user}",
            "timestamp": datetime.now(UTC).isoformat(),
            "properties": {"product_id": f"P{(n * 7919) % 5000:05d}"},
        }
    ).encode()


def _load(port: int, rate: float, stop: threading.Event, results: list[tuple[int, float]]) -> None:
    """POST /events at ``rate`` a second (one connection, kept alive) until ``stop``: (status, seconds)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    n, started = 0, time.monotonic()
    while not stop.is_set():
        due = started + n / rate
        if (wait := due - time.monotonic()) > 0:
            stop.wait(wait)
            continue
        sent = time.perf_counter()
        try:
            connection.request("POST", "/events", body=_message(n), headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        results.append((status, time.perf_counter() - sent))
        n += 1
    connection.close()


def _live_stored(state: Path) -> int:
    with closing(sqlite3.connect(state / "pue.sqlite3", timeout=60)) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM interactions AS i JOIN interaction_names AS u ON u.id = i.user "
            "WHERE u.name LIKE 'live-%'"
        ).fetchone()
    return int(row[0])


def _latencies(results: list[tuple[int, float]]) -> dict[str, Any]:
    times = sorted(seconds for _, seconds in results)
    return {
        "posts": len(results),
        "failed_posts": sum(1 for status, _ in results if status != 200),
        "statuses": {str(s): sum(1 for status, _ in results if status == s) for s, _ in set(results)},
        "p50_ms": round(times[len(times) // 2] * 1e3, 1) if times else None,
        "p99_ms": round(times[int(len(times) * 0.99)] * 1e3, 1) if times else None,
        "max_ms": round(times[-1] * 1e3, 1) if times else None,
    }


@contextmanager
def _posting(state: Path, rate: float) -> Iterator[tuple[list[tuple[int, float]], Callable[[], None]]]:
    """``pue serve`` on ``state`` and a client POSTing ``rate`` events a second: (results so far, the
    function that stops the client). The server stops when the block ends."""
    port = _free_port()
    server = _serve(state, port)
    results: list[tuple[int, float]] = []
    stop = threading.Event()
    load = threading.Thread(target=_load, args=(port, rate, stop, results), daemon=True)

    def stop_load() -> None:
        stop.set()
        if load.is_alive():
            load.join()

    try:
        load.start()
        yield results, stop_load
    finally:
        stop_load()
        server.terminate()
        server.wait(60)


def serve_alone(state: Path, rate: float, seconds: float) -> dict[str, Any]:
    """The same POSTs for ``seconds`` with no replay running: what this machine gives them now."""
    with _posting(state, rate) as (results, stop_load):
        time.sleep(seconds)
        stop_load()
    return _latencies(results)


def concurrent_run(source: Path, state: Path, rate: float) -> dict[str, Any]:
    with _posting(state, rate) as (results, stop_load):
        replay = replay_run(source, state)
        stop_load()
        ended = time.perf_counter()
        accepted = sum(1 for status, _ in results if status == 200)
        deadline = ended + 600
        while _live_stored(state) < accepted and time.perf_counter() < deadline:
            time.sleep(0.2)
        drained = time.perf_counter() - ended
        stored = _live_stored(state)
    return {
        "replay": replay,
        **_latencies(results),
        "live_events_stored": stored,
        "seconds_to_store_after_replay": round(drained, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.concurrent", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="archive interactions")
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=20.0, help="POST /events per second during the replay")
    parser.add_argument("--baseline-seconds", type=float, default=30.0, help="POSTs to pue serve alone")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    run = provenance.begin()
    work = args.out / "concurrent"
    work.mkdir(parents=True, exist_ok=True)
    source = args.out / "scale" / f"archive-{args.size}-{args.items}.jsonl.gz"  # shared with bench-scale
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        _say(f"generating {args.size:,} interactions over {args.items:,} items")
        archive.write(source, args.size, args.items)
    states = {name: work / f"state-{name}-{args.size}" for name in ("alone", "served")}
    for state in states.values():
        for stale in state.glob("pue*"):
            stale.unlink()
    _say(f"pue replay {source.name}, alone (load average {os.getloadavg()[0]:.1f})")
    alone = replay_run(source, states["alone"])
    _say(f"the same with pue serve taking {args.rate:g} POST /events a second")
    served = concurrent_run(source, states["served"], args.rate)
    _say(f"pue serve alone, the same POSTs for {args.baseline_seconds:g} s (this machine, no replay)")
    baseline = serve_alone(states["alone"], args.rate, args.baseline_seconds)
    result = {
        "size": args.size,
        "rate": args.rate,
        "alone": alone,
        "served": served,
        "serve_alone": baseline,
        "replay_rate_alone": round(args.size / alone["wall_seconds"]),
        "replay_rate_served": round(args.size / served["replay"]["wall_seconds"]),
        "wall_ratio_served_to_alone": round(served["replay"]["wall_seconds"] / alone["wall_seconds"], 3),
        "load_average_at_end": os.getloadavg(),
    }
    provenance.write(args.out / "concurrent.json", result, run)
    print(table(result))
    return 0


def table(r: dict[str, Any]) -> str:
    s = r["served"]
    return "\n".join(
        [
            "| archive | replay alone: s, records/s | with pue serve: s, records/s | ratio "
            "| POSTs (failed) | POST p50 / p99 / max ms | live events stored (s after the replay) |",
            "|---:|---:|---:|---:|---:|---|---|",
            f"| {r['size']:,} | {r['alone']['wall_seconds']}, {r['replay_rate_alone']:,} "
            f"| {s['replay']['wall_seconds']}, {r['replay_rate_served']:,} "
            f"| {r['wall_ratio_served_to_alone']} "
            f"| {s['posts']} ({s['failed_posts']}) | {s['p50_ms']} / {s['p99_ms']} / {s['max_ms']} "
            f"| {s['live_events_stored']} of {s['posts'] - s['failed_posts']} "
            f"({s['seconds_to_store_after_replay']}) |",
            f"pue serve alone (no replay), the same POSTs: {r['serve_alone']['posts']} "
            f"({r['serve_alone']['failed_posts']} failed), p50 / p99 / max "
            f"{r['serve_alone']['p50_ms']} / {r['serve_alone']['p99_ms']} / {r['serve_alone']['max_ms']} ms",
            f"load average at the end: {' '.join(f'{x:.2f}' for x in r['load_average_at_end'])}",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
