"""Progress of a Spark export between its step lines: tasks done per running stage, every 30 s.

The step lines say what runs; on a big archive the first step (reading every file) is most of the run,
so a line every ``EVERY_SECONDS`` says how far its stage got, from Spark's own status tracker (the
numbers the Spark UI shows). It reads status only: nothing here can change or slow the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

EVERY_SECONDS: Final = 30.0


class StageWatch:
    """``with StageWatch(sc, say): ...`` says the running stages' progress every ``every`` seconds."""

    def __init__(self, sc: Any, say: Callable[[str], None], every: float = EVERY_SECONDS) -> None:
        self._tracker = sc.statusTracker()
        self._say, self._every = say, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pue-export-progress", daemon=True)

    def __enter__(self) -> StageWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            line = self.line()
            if line:
                self._say(line)

    def line(self) -> str:
        parts = []
        for stage_id in sorted(self._tracker.getActiveStageIds()):
            info = self._tracker.getStageInfo(stage_id)
            if info is not None:
                parts.append(f"stage {stage_id}: {info.numCompletedTasks}/{info.numTasks} tasks done")
        return "; ".join(parts)
