"""The stand-in for Lambda's Python runtime, run by python3.12 inside the unzipped packaged artifact.

    python3.12 -I -S bootstrap.py TASK_ROOT HANDLER RESULT_FD

Lambda imports the handler from /var/task (here TASK_ROOT: the zip SAM CLI's packaging step made, unzipped)
and calls it once per event; so does this loop, one JSON event per stdin line, one JSON result per line on
file descriptor RESULT_FD. ``-I -S``: no site-packages, no PYTHONPATH, no user site; only the artifact is on
``sys.path``, as on Lambda (whose runtime adds nothing pue needs: the bundle carries boto3).

What it records, without changing anything the code sees:

- environment reads by pue's own code (a frame in TASK_ROOT/consumers, destinations or schemas): reads of
  ``os.environ`` (its class swapped for a subclass that records ``__getitem__``/``get``/``__contains__``;
  the values and the mapping are the same), and reads of the mapping pue's settings parsers are given
  (``consumers.config.env.EnvReader``, through which every setting is read: pue copies the environment
  once, to fill in secrets, and parses the copy);
- every AWS SDK call (``botocore.client.BaseClient._make_api_call``): service, operation and the parameters
  that name a resource, for the harness to check against the function's role.

Stdlib only: nothing from the tests is importable here.
"""

from __future__ import annotations

import dis
import importlib
import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

PUE_PACKAGES = ("consumers", "destinations", "schemas")
# botocore parameters that name the resource a call acts on (the harness maps them to ARNs).
RESOURCE_PARAMETERS = (
    "QueueUrl",
    "TableName",
    "IndexName",
    "Bucket",
    "Key",
    "SecretId",
    "campaignArn",
    "recommenderArn",
    "filterArn",
    "trackingId",
    "DomainName",
    "ApplicationId",
    "StreamARN",
    "StreamName",
    "ImportJobRequest",
)

env_reads: set[str] = set()
calls: list[dict[str, Any]] = []


def _named_read(task_root: str) -> bool:
    """Whether pue's own code (a frame in its packages) asked for this variable by name: ``environ[name]``,
    ``name in environ``, ``environ.get(name)``, ``os.getenv(name)``. A whole copy (``dict(os.environ)``,
    ``os.environ.copy()``: pue copies the environment to fill in secrets) reads every key and no setting."""
    frame: Any = sys._getframe(2)
    roots = tuple(os.path.join(task_root, package) + os.sep for package in PUE_PACKAGES)
    roots += tuple("/var/task/" + package + "/" for package in PUE_PACKAGES)  # paths compiled into the .pyc
    by_name = False
    for _ in range(4):
        if frame is None:
            return False
        if frame.f_code.co_filename.startswith(roots):
            return by_name or dis.opname[frame.f_code.co_code[frame.f_lasti]] in (
                "BINARY_SUBSCR",
                "CONTAINS_OP",
            )
        if not frame.f_code.co_filename.endswith(("os.py", "_collections_abc.py")):
            return False
        by_name = by_name or frame.f_code.co_name in ("get", "getenv", "__contains__")
        frame = frame.f_back
    return False


def watch_environ(task_root: str) -> None:
    base = type(os.environ)

    class RecordingEnviron(base):  # type: ignore[valid-type,misc]
        def __getitem__(self, key: str) -> str:
            if _named_read(task_root):
                env_reads.add(key)
            return str(super().__getitem__(key))

        def __contains__(self, key: object) -> bool:
            if isinstance(key, str) and _named_read(task_root):
                env_reads.add(key)
            return bool(super().__contains__(key))

    os.environ.__class__ = RecordingEnviron


class RecordingMapping(Mapping[str, str]):
    """The mapping a settings parser reads, the same values, every key asked for recorded."""

    def __init__(self, inner: Mapping[str, str]) -> None:
        self._inner = inner

    def __getitem__(self, key: str) -> str:
        env_reads.add(key)
        return self._inner[key]

    def get(self, key: str, default: Any = None) -> Any:
        env_reads.add(key)
        return self._inner.get(key, default)

    # Copies and scans (``dict(env)``, ``env.items()``) read no setting by name: not recorded.
    def keys(self) -> Any:
        return self._inner.keys()

    def items(self) -> Any:
        return self._inner.items()

    def values(self) -> Any:
        return self._inner.values()

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            env_reads.add(key)
        return key in self._inner

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


def watch_settings() -> None:
    env_module = importlib.import_module("consumers.config.env")
    reader = env_module.EnvReader
    original = reader.__init__

    def init(self: Any, env: Mapping[str, str]) -> None:
        original(self, RecordingMapping(env))

    reader.__init__ = init


def watch_sdk_calls() -> None:
    client_module = importlib.import_module("botocore.client")
    original = client_module.BaseClient._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        call = {
            "service": self.meta.service_model.service_name,
            "operation": operation_name,
            "params": {k: api_params[k] for k in RESOURCE_PARAMETERS if k in api_params},
        }
        if "RequestItems" in api_params:  # DynamoDB batch calls: the tables
            call["params"]["RequestItems"] = sorted(api_params["RequestItems"])
        calls.append(call)
        return original(self, operation_name, api_params)

    client_module.BaseClient._make_api_call = make_api_call


class Context:
    """The fields of Lambda's context object pue reads."""

    def __init__(self, name: str, request: int) -> None:
        self.function_name = name
        self.aws_request_id = f"rehearsal-{request}"
        self.memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main() -> int:
    task_root, handler_name, result_fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    results = os.fdopen(result_fd, "w", buffering=1)
    watch_environ(task_root)
    module_name, _, attribute = handler_name.rpartition(".")
    try:
        watch_settings()
        watch_sdk_calls()
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # Lambda's Runtime.ImportModuleError: every invocation fails with it
        results.write(json.dumps({"init_error": f"{type(error).__name__}: {error}"}) + "\n")
        return 1
    for number, line in enumerate(sys.stdin):
        calls.clear()
        answer: dict[str, Any] = {}
        try:
            answer["response"] = handler(
                json.loads(line), Context(os.environ["AWS_LAMBDA_FUNCTION_NAME"], number)
            )
        except Exception as error:  # a function error: Lambda reports errorType and errorMessage
            answer["error"] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        answer["calls"] = list(calls)
        answer["env_reads"] = sorted(env_reads)
        results.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
