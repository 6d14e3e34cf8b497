"""One warm Lambda container per function: python3.12 running tests/rehearsal/bootstrap.py in the unzipped
packaged artifact, with exactly the environment the template gives the function plus what Lambda sets and
the emulators' endpoint URLs (``LambdaEnvironment``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
# Seconds one invocation may take here before the rehearsal calls it hung (the template's timeouts are
# longer; nothing in the rehearsal should come near them).
INVOKE_TIMEOUT_SECONDS = 60


@dataclass
class Invocation:
    response: Any = None
    error: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    env_reads: list[str] = field(default_factory=list)


class LambdaContainer:
    """A function's process: ``invoke(event)`` one event at a time; ``logs`` holds every line it printed."""

    def __init__(self, name: str, python: str, task_root: Path, handler: str, env: Mapping[str, str]) -> None:
        self.name = name
        self.logs: list[str] = []
        self.init_error: str | None = None
        read_fd, write_fd = os.pipe()
        self._process = subprocess.Popen(
            [python, "-I", "-S", str(BOOTSTRAP), str(task_root), handler, str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        self._results: IO[str] = os.fdopen(read_fd, "r")
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._collect, args=(self._process.stdout,), daemon=True)
        self._reader.start()

    def _collect(self, stream: IO[str]) -> None:
        for line in stream:
            self.logs.append(line.rstrip("\n"))

    def invoke(self, event: Mapping[str, Any]) -> Invocation:
        if self.init_error is not None:
            return Invocation(error=self.init_error)
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(event) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            pass
        try:
            line = self._read_line()
        except TimeoutError as error:  # Lambda's "Task timed out": the container is gone
            self.init_error = f"{error}; its last lines: {self.logs[-12:]}"
            return Invocation(error=self.init_error)
        answer: dict[str, Any] = (
            json.loads(line) if line else {"init_error": f"{self.name} exited: {self._process.poll()}"}
        )
        if "init_error" in answer:
            self.init_error = f"Runtime.ImportModuleError: {answer['init_error']}"
            return Invocation(error=self.init_error)
        return Invocation(
            answer.get("response"), answer.get("error"), list(answer["calls"]), list(answer["env_reads"])
        )

    def _read_line(self) -> str:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self._results.readline()), daemon=True)
        reader.start()
        reader.join(INVOKE_TIMEOUT_SECONDS)
        if not box:
            # Interrupt first: the traceback it prints (into ``logs``) says where the function was stuck.
            self._process.send_signal(signal.SIGINT)
            self.stop()
            raise TimeoutError(f"{self.name}: no answer within {INVOKE_TIMEOUT_SECONDS} s")
        return box[0]

    def stop(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._reader.join(5)
        self._results.close()
