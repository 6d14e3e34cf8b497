"""Worker processes exit on their own when the process that started them dies, however it dies.

``pue replay``'s intake process and refresh workers are spawned children. Ctrl-C and SIGTERM reach the main
process, which stops them itself; SIGKILL (the OOM killer, ``kill -9``) leaves it no chance, and without
this they would live on under PID 1, holding the store open and, through them, multiprocessing's resource
tracker (it exits when every process holding its pipe has).

How: a daemon thread in the worker waits on ``multiprocessing.parent_process().sentinel``, the reading end
of the pipe a spawned child reads its start-up data from. Only the parent holds the writing end, so the
kernel closes it when the parent dies, whatever killed it: the wait returns and the worker ends at once
(``os._exit``: nothing of its state is worth flushing, and its parent is not there to hear about it).

Why a pipe and not ``prctl(PR_SET_PDEATHSIG)``: the pipe is the same on Linux and macOS (prctl is Linux
only), it already exists (no ctypes), it cannot miss a parent that died before the worker got to arm it
(the pipe was opened before the worker existed), and it follows the parent process, where a parent-death
signal follows the parent *thread* that forked (ProcessPoolExecutor may start workers from its manager
thread, whose end would kill a healthy worker).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from typing import Final

# The exit status of a worker whose parent died: 128 + SIGHUP, as a shell reports a hung-up job.
ORPHANED_EXIT: Final = 129


def exit_with_parent() -> bool:
    """In a spawned child: end this process as soon as its parent dies. False when there is no parent
    process to watch (the main process, or a child started some other way)."""
    parent = multiprocessing.parent_process()
    sentinel = None if parent is None else parent.sentinel
    if sentinel is None:
        return False
    threading.Thread(target=_watch, args=(sentinel,), name="pue-parent-watch", daemon=True).start()
    return True


def _watch(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(ORPHANED_EXIT)
