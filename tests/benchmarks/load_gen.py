"""Load generators for the API benchmark: wrk (required by default), or a Python loop on request.

wrk (https://github.com/wg/wrk, Debian/Ubuntu package ``wrk``) is C with an event loop: one thread keeps
every connection busy for a fraction of the CPU the server uses, which matters on a 2-core machine where
the generator and the server share the cores. The Python loop (``--python-load``) runs in the benchmark's
own process, apart from the server, but spends far more CPU per request, so its figures come out lower; it
exists for machines where wrk cannot be installed.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

WRK_INSTALL_HINT: Final = (
    "the API load benchmark needs wrk on PATH: `sudo apt-get install -y wrk` (Debian/Ubuntu) or "
    "`brew install wrk` (macOS); or pass --python-load for a slower Python load generator"
)
_UNITS: Final = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_CONNECT_TIMEOUT_SECONDS: Final = 10


class LoadGeneratorMissing(RuntimeError):
    """wrk is not installed: the message says how to install it."""


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int = 0


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadGeneratorMissing(WRK_INSTALL_HINT)
    return wrk


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
    # The same script drives both routes, so the generator costs the same per request for each.
    listed = ",".join(json.dumps(p) for p in paths)
    return (
        f'local paths = {{{listed}}}\nlocal i = 0\nwrk.headers["x-api-key"] = {json.dumps(key)}\n'
        'request = function()\n  i = i + 1\n  return wrk.format("GET", paths[(i % #paths) + 1])\nend\n'
    )


def wrk_load(
    wrk: str, url: str, paths: list[str], key: str, seconds: float, connections: int, work: Path
) -> Load:
    """One wrk run: one thread, ``connections`` keep-alive connections, cycling through ``paths``."""
    script = work / f"paths-{len(paths)}-{abs(hash(tuple(paths)))}.lua"
    script.write_text(_lua(paths, key))
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def python_load(url: str, paths: list[str], key: str, seconds: float, connections: int) -> Load:
    """``connections`` threads, each with one keep-alive connection, until ``seconds`` pass."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=_CONNECT_TIMEOUT_SECONDS)
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
