"""Who used the CPUs during a load round: the server, the load generator, and everything else.

On a shared machine the "everything else" share explains a bad round better than any guess: a server
descheduled for a few milliseconds puts every request in flight into the tail. Linux /proc only; elsewhere
the figures are None.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSample:
    total_busy: float  # seconds of CPU used on the machine, all cores
    server: float  # seconds used by the server process
    generator: float  # seconds used by this process and its finished children (wrk, or the Python loop)
    wall: float


def _busy_seconds() -> float:
    fields = (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS_PER_SECOND


def _process_seconds(pid: int) -> float:
    # Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    after_name = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / _TICKS_PER_SECOND


def sample(server_pid: int) -> CpuSample | None:
    if not (_PROC / "stat").exists():
        return None
    generator = sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF))
    )
    return CpuSample(_busy_seconds(), _process_seconds(server_pid), generator, time.monotonic())


def shares(before: CpuSample | None, after: CpuSample | None) -> dict[str, float] | None:
    """CPU used between two samples, in cores (1.0 = one core busy the whole time)."""
    if before is None or after is None:
        return None
    wall = max(after.wall - before.wall, 1e-9)
    server = (after.server - before.server) / wall
    generator = (after.generator - before.generator) / wall
    total = (after.total_busy - before.total_busy) / wall
    return {
        "server_cores": round(server, 2),
        "generator_cores": round(generator, 2),
        "others_cores": round(max(total - server - generator, 0.0), 2),
    }
