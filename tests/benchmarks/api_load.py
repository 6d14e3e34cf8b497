"""Load ``pue serve`` on the sample data: GET /recommendations beside GET /health on the same server.

    .venv/bin/python -m tests.benchmarks.api_load [--seconds 5] [--rounds 3] [--connections 8]

Goal (issue 3): /recommendations reaches at least 50 % of /health's requests per second, and its p99 is at
most 5 x its p50. The load generator is wrk (Debian: ``apt-get install wrk``) on 127.0.0.1, one thread,
both routes driven by the same kind of Lua script so the generator costs the same for each; recommendation
requests cycle through every sample user. Without wrk, a bounded Python loop of keep-alive connections
stands in (it costs the machine more, so its figures are lower). Rounds alternate the two routes; the
median round is reported, since a shared 2-core machine is noisy. A last run shows the server with its
recommendation cache off (``PUE_API_CACHE_ENTRIES=0``): the price of computing every list.

The server runs as ``pue serve`` in its own process, logs on (to a file), and is stopped with SIGTERM:
the run fails if it does not stop cleanly.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def parse_wrk(output: str) -> Load:
    """req/s, p50 and p99 from ``wrk --latency`` output; non-2xx answers and socket errors count as errors."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\b", output, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", output, re.M)
    if not (rps and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return Load(
        float(rps.group(1)),
        float(p50.group(1)) * _UNITS[p50.group(2)],
        float(p99.group(1)) * _UNITS[p99.group(2)],
        errors,
    )


def _lua(paths: list[str], key: str) -> str:
    listed = ",".join(json.dumps(p) for p in paths)
    return (
        f'local paths = {{{listed}}}\nlocal i = 0\nwrk.headers["x-api-key"] = {json.dumps(key)}\n'
        'request = function()\n  i = i + 1\n  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n'
    )


def _wrk(url: str, paths: list[str], key: str, seconds: float, connections: int, work: Path) -> Load:
    script = work / f"paths-{abs(hash(tuple(paths)))}.lua"
    script.write_text(_lua(paths, key))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def _python_load(url: str, paths: list[str], key: str, seconds: float, connections: int) -> Load:
    """Fallback load: ``connections`` threads, each one keep-alive connection, until ``seconds`` pass."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        i = n
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            conn.request("GET", paths[i % len(paths)], headers={"x-api-key": key})
            response = conn.getresponse()
            response.read()
            latencies[n].append((time.perf_counter() - started) * 1000)
            errors[n] += response.status != 200
            i += connections
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    every = sorted(x for per in latencies for x in per)
    return Load(len(every) / elapsed, every[len(every) // 2], every[int(len(every) * 0.99)], sum(errors))


def _sample_state(state: Path, users: int) -> list[str]:
    """Replay the demo's sample clickstream into ``state``; the user ids it holds."""
    from consumers.api.serve import local_settings
    from consumers.bootstrap import build_pipeline
    from consumers.lambda_events import lambda_events
    from consumers.replay import replay
    from consumers.sample_data import clickstream

    pipeline, wiring = build_pipeline(local_settings(str(state)))
    try:
        payloads = [json.dumps(m).encode() for m in clickstream(users=users)]
        replay(lambda_events(payloads, batch_size=100), pipeline)
        assert wiring.local is not None
        return wiring.local.store.known_users(limit=users * 2)
    finally:
        pipeline.close()


class Server:
    """``pue serve`` in a child process on an ephemeral port."""

    def __init__(self, state: Path, key: str, log: IO[str], cache_entries: int | None = None) -> None:
        env = {**os.environ, "PUE_API_KEY": key}
        if cache_entries is not None:
            env["PUE_API_CACHE_ENTRIES"] = str(cache_entries)
        command = [sys.executable, "-m", "consumers.cli", "serve", "--state", str(state), "--port", "0"]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if match := _LISTENING.search(line):
                self.url = match.group(1)
                return
        raise RuntimeError("pue serve exited before listening")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        rest, _ = self.process.communicate(timeout=30)
        if self.process.returncode != 0 or "stopped" not in rest:
            raise RuntimeError(f"pue serve did not stop cleanly (exit {self.process.returncode})")


def _measure(args: argparse.Namespace, server: Server, users: list[str], key: str, work: Path) -> None:
    wrk = shutil.which("wrk")
    health = ["/health"]
    recs = [f"/recommendations?userId={u}&numResults=25" for u in users]

    def load(paths: list[str], seconds: float) -> Load:
        if wrk:
            return _wrk(server.url, paths, key, seconds, args.connections, work)
        return _python_load(server.url, paths, key, seconds, args.connections)

    load(recs, 2)  # warm-up: every user's list computed once, connections and caches warm
    rounds = [(load(health, args.seconds), load(recs, args.seconds)) for _ in range(args.rounds)]
    median_health = _median([h for h, _ in rounds])
    median_recs = _median([r for _, r in rounds])
    generator = f"wrk -t1 -c{args.connections}" if wrk else f"python loop, {args.connections} connections"
    print(f"load generator: {generator}, {args.rounds} rounds x {args.seconds}s per route, median round")
    _row("GET /health", median_health)
    _row("GET /recommendations", median_recs)
    ratio = median_recs.requests_per_second / median_health.requests_per_second
    tail = median_recs.p99_ms / median_recs.p50_ms
    verdict = "met" if ratio >= 0.5 else "MISSED"
    print(f"recommendations / health throughput: {ratio:.0%} (goal >= 50%): {verdict}")
    print(f"recommendations p99 / p50: {tail:.1f} (goal <= 5): {'met' if tail <= 5 else 'MISSED'}")


def _median(loads: list[Load]) -> Load:
    return sorted(loads, key=lambda x: x.requests_per_second)[len(loads) // 2]


def _row(name: str, load: Load) -> None:
    errors = f"  ERRORS {load.errors}" if load.errors else ""
    print(
        f"  {name:<22} {load.requests_per_second:>8,.0f} req/s   p50 {load.p50_ms:6.2f} ms   "
        f"p99 {load.p99_ms:6.2f} ms{errors}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--no-uncached", action="store_true", help="skip the run with the cache off")
    args = parser.parse_args(argv)
    key = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="pue-api-load-") as tmp:
        work = Path(tmp)
        users = _sample_state(work / "state", args.users)
        load_average = os.getloadavg()[0]
        print(f"sample state: {len(users)} users; load average {load_average:.1f} on {os.cpu_count()} CPUs")
        with (work / "serve.log").open("w") as log:
            server = Server(work / "state", key, log)
            try:
                _measure(args, server, users, key, work)
            finally:
                server.stop()
            if not args.no_uncached:
                server = Server(work / "state", key, log, cache_entries=0)
                try:
                    print("cache off (PUE_API_CACHE_ENTRIES=0), one round:")
                    _measure(argparse.Namespace(**{**vars(args), "rounds": 1}), server, users, key, work)
                finally:
                    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
