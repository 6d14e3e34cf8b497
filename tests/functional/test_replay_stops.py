"""`pue replay` stopped from outside (issue 24): SIGTERM is Ctrl-C (the batches that completed are kept, a
summary, exit 143), and no process it started outlives it, even when it is SIGKILLed (the OOM killer).

Each test runs a real `pue replay` in a child process on an archive large enough for the intake process and
two refresh workers to start, waits (polling /proc) until the processes of the phase under test exist,
stops it, and polls until every process it had started is gone.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in /proc")

USERS = 3_000  # over the 1,000 that start refresh workers
EVENTS_PER_USER = 5  # all "active": every user is refreshed
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DEADLINE = 60.0  # seconds to see a phase start, or its processes end: generous on a loaded machine


def archive(path: Path) -> Path:
    """15,000 JSON lines, ~4 MB: over the 2 MiB that start the intake process."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(USERS * EVENTS_PER_USER):
            user = n % USERS
            message = {
                "type": "track",
                "event": "Product Viewed",
                "messageId": f"m{n}",
                "userId": f"user-{user}",
                "anonymousId": f"anon-{user}",
                "timestamp": (T0 + timedelta(seconds=n)).isoformat(),
                "properties": {"product_id": f"p{(n * 7919) % 400}", "name": "x" * 150},
            }
            out.write(json.dumps(message) + "\n")
    return path


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process now."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry.name)] = (int(fields[1]), fields[0])
    return found


def descendants(root: int) -> set[int]:
    table = _table()
    found: set[int] = set()
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def alive(pids: set[int]) -> set[int]:
    table = _table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}  # a zombie has exited


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")
        time.sleep(0.02)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """The replay, its output to files: a pipe would be held open by any process that outlived it."""
    source = archive(tmp_path / "archive.jsonl")
    state = tmp_path / "state"
    command = [sys.executable, "-m", "consumers.cli", "replay", str(source), "--state", str(state)]
    command += ["--batch-size", "500", "--workers", "2", "--refresh-users", "all"]
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        replay = subprocess.Popen(command, stdout=out, stderr=err)
    return replay, state


def in_phase(replay: subprocess.Popen[bytes], phase: str) -> set[int]:
    """Wait until ``phase`` runs ("intake": the intake process; "refresh": two refresh workers), return
    every process the replay has started by then."""
    seen: set[int] = set()

    def started() -> bool:
        assert replay.poll() is None, f"pue replay ended first, {replay.returncode}"
        children = descendants(replay.pid)
        seen.update(children)
        spawned = [pid for pid in children if "multiprocessing.spawn" in _cmdline(pid)]
        return len(spawned) >= (1 if phase == "intake" else 2)

    wait_for(started, f"the {phase} processes of pue replay")
    return seen


def end(replay: subprocess.Popen[bytes], started: set[int]) -> None:
    """Whatever the test found, nothing it started outlives it."""
    replay.kill()
    replay.wait()
    for pid in alive(started):
        os.kill(pid, signal.SIGKILL)


def store_interactions(state: Path) -> int:
    with sqlite3.connect(state / "pue.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0])


def stopped_in(tmp_path: Path, phase: str, sig: signal.Signals) -> tuple[subprocess.Popen[bytes], Path]:
    """A replay sent ``sig`` in ``phase``; returns once every process it had started is gone."""
    replay, state = start(tmp_path)
    started: set[int] = set()
    try:
        started = in_phase(replay, phase)
        os.kill(replay.pid, sig)
        replay.wait(timeout=DEADLINE)
        wait_for(lambda: not alive(started), f"the end of every process pue replay started, after {sig.name}")
    finally:
        end(replay, started)
    return replay, state


@pytest.mark.parametrize("phase", ["intake", "refresh"])
def test_sigkill_leaves_no_process_behind(tmp_path: Path, phase: str) -> None:
    replay, _ = stopped_in(tmp_path, phase, signal.SIGKILL)
    assert replay.returncode == -signal.SIGKILL


@pytest.mark.parametrize("phase", ["intake", "refresh"])
def test_sigterm_is_ctrl_c_what_completed_is_kept_and_summarised(tmp_path: Path, phase: str) -> None:
    replay, state = stopped_in(tmp_path, phase, signal.SIGTERM)
    out, err = ((tmp_path / name).read_text(encoding="utf-8") for name in ("out", "err"))
    assert replay.returncode == 143, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped"] == "SIGTERM" and "pue replay: stopped (SIGTERM)" in err
    # Exactly the batches the summary counts were kept: the one in flight finished first.
    assert summary["interactions"] == store_interactions(state) > 0
    assert summary["records"] == summary["processed"] and summary["records"] % 500 == 0
    if phase == "refresh":  # the whole input was read; the refresh stopped part-way
        assert summary["records"] == USERS * EVENTS_PER_USER
        assert summary["users_refreshed"] + summary["users_not_refreshed"] == USERS
    assert summary["users_not_refreshed"] > 0
