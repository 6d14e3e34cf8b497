"""Load ``pue serve`` on the sample data: GET /recommendations beside GET /health on the same server.

    make bench-api        (= .venv/bin/python -m tests.benchmarks --api [--seconds 5] [--rounds 5] ...)

Goal (issue 3): /recommendations reaches at least 50 % of /health's requests per second, and its p99 is at
most 5 x its p50. The load generator is wrk on 127.0.0.1 (required: the run stops with how to install it;
``--python-load`` swaps in a slower Python loop), one thread, 8 keep-alive connections, both routes driven
by the same Lua script so the generator costs the same for each; recommendation requests cycle through
every sample user. Rounds alternate the two routes and the median round of each is reported, since a
shared 2-core machine is noisy; every round also says how much CPU the server, the generator and every
other process used (``cpu_share``). A last round runs with the recommendation cache off
(``PUE_API_CACHE_ENTRIES=0``): the price of computing every list.

Then the hostile figure (issues 14 and 23): 1,000 idle connections, 200 slowloris connections (a
header byte per socket per second, never finishing) and 200 whose head promises a body that never comes
(100-continue, ``+60000``, ``60_000``, a space before the colon, an endless chunk) are opened and held for
longer than the server's request deadline, while a well-behaved client times ``GET /health`` and
``GET /recommendations`` on fresh connections (``--hostile-requests`` each) and wrk measures throughput
beside them. Goal: p99 under 100 ms for both.

The server runs as ``pue serve`` in its own process with its access log on (to a file, as in production),
and is stopped with SIGTERM: the run fails if it does not stop cleanly. ``--server NAME`` runs another
candidate server instead (tests/benchmarks/server_candidates.py), for the server-choice table in
docs/api.md. Results: stdout and ``bench-results/api-load.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from tests.benchmarks import cpu_share, provenance, report
from tests.benchmarks.hostile_clients import HostileClients, probe
from tests.benchmarks.load_gen import Load, LoadGeneratorMissing, python_load, require_wrk, wrk_load

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
HOSTILE_IDLE = 1000
HOSTILE_SLOWLORIS = 200
HOSTILE_PROMISED = 200  # heads promising a body that never comes (issue 23), the five kinds in turn
HOSTILE_P99_GOAL_MS = 100.0
# Held at least this long before the timing starts: past pue serve's 10 s request deadline, so the
# slowloris sockets have been cut off and opened again at least once while the client is timed.
HOSTILE_HOLD_SECONDS = 12.0
BENCH_RATE_LIMIT = "1000000/1000000"
RATIO_GOAL = 0.5  # recommendations req/s over health req/s, at least
TAIL_GOAL = 5.0  # recommendations p99 over p50, at most
WARM_UP_SECONDS = 2  # every user's list computed once, connections and caches warm


def _sample_state(state: Path, users: int) -> list[str]:
    """Replay the demo's sample clickstream into ``state``; the user ids it holds."""
    from consumers.bootstrap.stream import build_pipeline
    from consumers.cli.arguments import local_settings
    from consumers.runners.lambda_events import lambda_events
    from consumers.runners.replay import replay
    from consumers.runners.sample_data import clickstream

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

    def __init__(
        self,
        state: Path,
        key: str,
        log: IO[str],
        cache_entries: int | None = None,
        candidate: str | None = None,
    ) -> None:
        # One key drives every request: its rate limit is set far above what any server here answers, so
        # the limiter's work is measured without it refusing anything (the default is 500/s per key).
        env = {**os.environ, "PUE_API_KEY": key, "PUE_RATE_LIMIT": BENCH_RATE_LIMIT}
        if cache_entries is not None:
            env["PUE_API_CACHE_ENTRIES"] = str(cache_entries)
        command = [sys.executable, "-m", "consumers.cli", "serve", "--state", str(state), "--port", "0"]
        self.candidate = candidate
        if candidate is not None:
            module = "tests.benchmarks.server_candidates"
            command = [sys.executable, "-m", module, candidate, "--state", str(state)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if match := _LISTENING.search(line):
                self.url = match.group(1)
                _wait_until_accepting(int(match.group(2)))  # granian announces before its worker is up
                return
        raise RuntimeError("pue serve exited before listening")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        if self.candidate is not None:  # another server: how it stops is its own business
            try:
                self.process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
            return
        rest, _ = self.process.communicate(timeout=30)
        if self.process.returncode != 0 or "stopped" not in rest:
            raise RuntimeError(f"pue serve did not stop cleanly (exit {self.process.returncode})")


def _paths(users: list[str]) -> dict[str, list[str]]:
    return {
        "GET /health": ["/health"],
        "GET /recommendations": [f"/recommendations?userId={u}&numResults=25" for u in users],
    }


def _load(
    args: argparse.Namespace, server: Server, paths: list[str], key: str, seconds: float, work: Path
) -> tuple[Load, dict[str, Any]]:
    before = cpu_share.sample(server.process.pid)
    if args.python_load:
        result = python_load(server.url, paths, key, seconds, args.connections)
    else:
        result = wrk_load(require_wrk(), server.url, paths, key, seconds, args.connections, work)
    cpu = cpu_share.shares(before, cpu_share.sample(server.process.pid))
    return result, {**vars(result), "cpu": cpu, "load_average_1m": os.getloadavg()[0]}


def _wait_until_accepting(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _measure(
    args: argparse.Namespace, server: Server, users: list[str], key: str, work: Path, rounds: int
) -> dict[str, Any]:
    paths = _paths(users)

    def load(route: str, seconds: float) -> dict[str, Any]:
        result, row = _load(args, server, paths[route], key, seconds, work)
        _row(route, result, row["cpu"], row["load_average_1m"])
        return row

    load("GET /recommendations", WARM_UP_SECONDS)
    measured: dict[str, list[dict[str, Any]]] = {route: [] for route in paths}
    for number in range(1, rounds + 1):
        print(f" round {number}")
        for route in paths:
            measured[route].append(load(route, args.seconds))
    return _summary(measured)


def _compare(
    args: argparse.Namespace, servers: dict[str, Server], users: list[str], key: str, work: Path
) -> dict[str, Any]:
    """Both servers up at once, measured turn about within every round, so the machine's load (shared
    with other work) falls on both alike: the ratio is the figure, not the absolute req/s."""
    paths = _paths(users)
    measured: dict[str, dict[str, list[dict[str, Any]]]] = {name: {r: [] for r in paths} for name in servers}
    for server in servers.values():
        _load(args, server, paths["GET /recommendations"], key, WARM_UP_SECONDS, work)
    for number in range(1, args.rounds + 1):
        print(f" round {number}")
        for route in paths:
            for name, server in servers.items():
                result, row = _load(args, server, paths[route], key, args.seconds, work)
                measured[name][route].append(row)
                _row(f"{name} {route}", result, row["cpu"], row["load_average_1m"])
    print(" median round")
    summary: dict[str, Any] = {"rounds": measured, "median": {}, "ratio": {}}
    first, second = list(servers)
    for route in paths:
        medians = {name: _median(measured[name][route]) for name in servers}
        summary["median"][route] = medians
        for name, row in medians.items():
            _row(
                f"{name} {route}",
                Load(row["requests_per_second"], row["p50_ms"], row["p99_ms"], row["errors"]),
            )
        ratio = medians[first]["requests_per_second"] / medians[second]["requests_per_second"]
        summary["ratio"][route] = ratio
        print(f"  {route}: {first} / {second} throughput = {ratio:.2f}")
    return summary


def _hostile(
    args: argparse.Namespace, server: Server, users: list[str], key: str, work: Path
) -> dict[str, Any]:
    """The well-behaved client's latency and wrk's throughput beside idle, slowloris and promised-body
    connections."""
    port = int(server.url.rsplit(":", 1)[1])
    paths = {
        "GET /health": ["/health"],
        "GET /recommendations": [f"/recommendations?userId={u}&numResults=25" for u in users],
    }
    print(
        f" hostile: {HOSTILE_IDLE:,} idle + {HOSTILE_SLOWLORIS} slowloris + {HOSTILE_PROMISED} "
        "promised-body connections"
    )
    result: dict[str, Any] = {
        "idle": HOSTILE_IDLE,
        "slowloris": HOSTILE_SLOWLORIS,
        "promised": HOSTILE_PROMISED,
    }
    hostile_clients = HostileClients(
        "127.0.0.1", port, idle=HOSTILE_IDLE, slowloris=HOSTILE_SLOWLORIS, promised=HOSTILE_PROMISED
    )
    with hostile_clients as hostile:
        time.sleep(HOSTILE_HOLD_SECONDS)
        for route, route_paths in paths.items():
            timed = probe("127.0.0.1", port, route_paths, key, args.hostile_requests)
            result[route] = vars(timed)
            met = _met(timed.errors == 0 and timed.p99_ms < HOSTILE_P99_GOAL_MS)
            print(
                f"  {route:<22} fresh connections: {timed.requests} requests, {timed.errors} errors, "
                f"p50 {timed.p50_ms:.2f} ms, p99 {timed.p99_ms:.2f} ms, max {timed.max_ms:.1f} ms "
                f"(goal p99 < {HOSTILE_P99_GOAL_MS:g} ms): {met}"
            )
        if not args.python_load:
            load = wrk_load(
                require_wrk(), server.url, paths["GET /recommendations"], key, args.seconds, 8, work
            )
            result["wrk GET /recommendations"] = vars(load)
            _row("GET /recommendations (wrk, beside them)", load)
        result["counts"] = vars(hostile.counts)
    counts = result["counts"]
    print(
        f"  opened {counts['idle_open']:,} idle + {counts['slow_open']} slowloris "
        f"({counts['connect_failures']} failed to connect); slowloris cut off by the server and "
        f"reopened: {counts['slow_reopened']}; promised-body: {counts['promised_open']} opened, answered "
        f"or closed by the server and reopened: {counts['promised_reopened']}"
    )
    result["goal_met"] = all(
        result[route]["errors"] == 0 and result[route]["p99_ms"] < HOSTILE_P99_GOAL_MS for route in paths
    )
    return result


def _summary(measured: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    median = {route: _median(rows) for route, rows in measured.items()}
    health, recs = median["GET /health"], median["GET /recommendations"]
    ratio = recs["requests_per_second"] / health["requests_per_second"]
    tail = recs["p99_ms"] / recs["p50_ms"]
    print(" median round")
    for route, row in median.items():
        _row(route, Load(row["requests_per_second"], row["p50_ms"], row["p99_ms"], row["errors"]))
    verdict = _met(ratio >= RATIO_GOAL)
    print(f" recommendations / health throughput: {ratio:.0%} (goal >= {RATIO_GOAL:.0%}): {verdict}")
    print(f" recommendations p99 / p50: {tail:.1f} (goal <= {TAIL_GOAL:g}): {_met(tail <= TAIL_GOAL)}")
    return {
        "rounds": measured,
        "median": median,
        "ratio": ratio,
        "tail": tail,
        "goals_met": ratio >= RATIO_GOAL and tail <= TAIL_GOAL,
    }


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(rows, key=lambda row: row["requests_per_second"])[len(rows) // 2]


def _row(
    route: str, load: Load, cpu: dict[str, float] | None = None, load_average: float | None = None
) -> None:
    errors = f"  ERRORS {load.errors}" if load.errors else ""
    where = ""
    if cpu is not None:
        where = (
            f"   cores: server {cpu['server_cores']:.2f}, generator {cpu['generator_cores']:.2f}, "
            f"others {cpu['others_cores']:.2f}"
        )
    if load_average is not None:
        where += f"; load {load_average:.2f}"
    print(
        f"  {route:<22} {load.requests_per_second:>8,.0f} req/s   p50 {load.p50_ms:6.2f} ms   "
        f"p99 {load.p99_ms:7.2f} ms{errors}{where}"
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks --api", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per route and round (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both routes (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--users", type=int, default=300, help="sample users (default 300, as make run)")
    parser.add_argument("--python-load", action="store_true", help="a Python load loop instead of wrk")
    parser.add_argument("--no-uncached", action="store_true", help="skip the round with the cache off")
    parser.add_argument("--no-hostile", action="store_true", help="skip the idle/slowloris figure")
    parser.add_argument(
        "--hostile-requests", type=int, default=300, help="timed requests per route beside them (default 300)"
    )
    parser.add_argument(
        "--server",
        choices=("cheroot-stock", "waitress", "uvicorn", "granian"),
        help="measure another server instead of pue serve (tests/benchmarks/server_candidates.py)",
    )
    parser.add_argument(
        "--against",
        choices=("cheroot-stock", "waitress", "uvicorn", "granian"),
        help="only compare pue serve's throughput with this server's, both running, turn about per round",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.python_load:
        try:
            require_wrk()
        except LoadGeneratorMissing as exc:
            print(f"bench --api: {exc}", file=sys.stderr)
            return 2
    key = secrets.token_urlsafe(24)
    started, run = time.perf_counter(), provenance.begin()
    results: dict[str, Any] = {
        "command": "python -m tests.benchmarks --api " + " ".join(argv or sys.argv[1:])
    }
    results["machine"] = report.machine()
    with tempfile.TemporaryDirectory(prefix="pue-api-load-") as tmp:
        work = Path(tmp)
        users = _sample_state(work / "state", args.users)
        generator = "python loop" if args.python_load else "wrk -t1"
        print(
            f"{args.server or 'pue serve'} on {len(users)} sample users; {generator}, "
            f"{args.connections} connections, "
            f"{args.rounds} rounds x {args.seconds:g} s per route; {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        with (work / "serve.log").open("w") as log:
            if args.against is not None:
                servers = {"pue serve": Server(work / "state", key, log)}
                try:
                    servers[args.against] = Server(work / "state", key, log, candidate=args.against)
                    results["compared"] = _compare(args, servers, users, key, work)
                finally:
                    for running in servers.values():
                        running.stop()
                return _finish(args, results, started, run)
            server = Server(work / "state", key, log, candidate=args.server)
            try:
                results["cached"] = _measure(args, server, users, key, work, args.rounds)
                if not args.no_hostile:
                    results["hostile"] = _hostile(args, server, users, key, work)
            finally:
                server.stop()
            if not args.no_uncached and args.server is None:
                print("cache off (PUE_API_CACHE_ENTRIES=0), one round:")
                server = Server(work / "state", key, log, cache_entries=0)
                try:
                    results["uncached"] = _measure(args, server, users, key, work, 1)
                finally:
                    server.stop()
    return _finish(args, results, started, run)


def _finish(args: argparse.Namespace, results: dict[str, Any], started: float, run: provenance.Run) -> int:
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    provenance.write(args.out / "api-load.json", results, run)
    print(f"{results['seconds']:.0f} s; results in {args.out / 'api-load.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
