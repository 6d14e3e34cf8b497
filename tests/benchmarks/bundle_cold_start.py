"""Figure 7, Lambda cold start from the built bundle: the Kinesis handler's first event, before and after.

Each run is a fresh ``python3.12 -I -S`` (the template's runtime, nothing but the bundle on ``sys.path``)
that imports ``consumers.kinesis``, builds the pipeline as Lambda's first invocation does (aws backend,
Personas and dead-letter bucket on, AWS endpoint on a closed local port) and handles one event (three
messages pue filters, two of them in a KPL aggregate), timed from spawn to exit, wall clock and the child's
CPU time (user + system, from the kernel's rusage): on a loaded machine the wall clock mostly measures the
queue for a core, the CPU time what the cold start itself costs. Four bundles, the same locked wheels in each,
run interleaved so background load hits them alike; the medians count:

- ``before``: pue's code at ``--before`` (the commit this work started from) and no ``.pyc``, as `make deploy`
  shipped it; ``-B`` (write no bytecode) stands for Lambda's read-only /var/task, where the runtime compiles
  every module on every cold start and cannot keep the result.
- ``before_pyc``: the same code, compiled: what bytecode alone buys.
- ``after_no_pyc``: today's code without ``.pyc``: what the import cuts alone buy.
- ``after``: `make bundle` as it is now.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

from tests.factories import kinesis_event

BEFORE_REVISION = "aba7556"  # the commit before issue 12: no .pyc, boto3 sessions, jwt via segment.analytics
PACKAGES = ("consumers", "destinations", "schemas")
ENV = {
    "PUE_BACKEND": "aws",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "PERSONALIZE_TRACKING_ID": "tracking",
    "PERSONALIZE_CAMPAIGN_ARN": "arn:aws:personalize:us-east-1:123456789012:campaign/pue",
    "PUE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters",
    "PUE_DEAD_LETTER_BUCKET": "dead-letters",
    "SEGMENT_WRITE_KEY": "write-key",
}
FIRST_EVENT = """
import json, os, sys
sys.path.insert(0, os.environ["BUNDLE"])
import consumers.kinesis as kinesis
response = kinesis.handler(json.load(open(os.environ["EVENT"])), None)
assert response == {"batchItemFailures": []}, response
print(len(sys.modules))
"""


def _event(root: Path) -> dict[str, Any]:
    samples = root / "tests" / "samples"
    page = json.loads((samples / "page.json").read_text())
    screen = json.loads((samples / "screen.json").read_text())
    event = kinesis_event([page, screen], aggregate=2)
    event["Records"] += kinesis_event([page], start_sequence=2)["Records"]
    return event


def _without_bytecode(folder: Path) -> None:
    for cache in list(folder.rglob("__pycache__")):
        shutil.rmtree(cache)


def _with_code_of(revision: str, bundle: Path, root: Path) -> None:
    """Replace pue's packages in ``bundle`` by their state at ``revision``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, *PACKAGES], cwd=root, capture_output=True, check=True
    ).stdout
    for package in PACKAGES:
        shutil.rmtree(bundle / package)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(bundle, filter="data")


def _compile(python: str, folder: Path) -> None:
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([*command, str(folder)], check=True)


def _bundles(work: Path, root: Path, python: str, revision: str) -> dict[str, Path]:
    after = work / "after"
    subprocess.run(
        [str(root / ".venv" / "bin" / "python"), str(root / "deploy" / "bundle.py"), "build"]
        + ["--out", str(after), "--arch", "host", "--python", python],
        check=True,
        capture_output=True,
    )
    bundles = {"after": after}
    for name in ("after_no_pyc", "before", "before_pyc"):
        bundles[name] = work / name
        shutil.copytree(after, bundles[name], symlinks=True)
        _without_bytecode(bundles[name])
    for name in ("before", "before_pyc"):
        _with_code_of(revision, bundles[name], root)
    _compile(python, bundles["before_pyc"])
    return bundles


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(python: str, bundle: Path, event: Path) -> tuple[float, float, int]:
    env = {"PATH": os.environ.get("PATH", ""), **ENV, "BUNDLE": str(bundle), "EVENT": str(event)}
    # -B, not PYTHONDONTWRITEBYTECODE: -I ignores every PYTHON* variable, and a .pyc written by one run would
    # turn a no-.pyc bundle into a compiled one for the next.
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", FIRST_EVENT], env=env, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, _children_cpu() - cpu, int(done.stdout.strip())


def measure(root: Path, python: str, *, repeats: int = 9, revision: str = BEFORE_REVISION) -> dict[str, Any]:
    """Median seconds per bundle, modules loaded, and before/after ratios."""
    with tempfile.TemporaryDirectory(prefix="pue-cold-start-") as directory:
        work = Path(directory)
        bundles = _bundles(work, root, python, revision)
        event = work / "event.json"
        event.write_text(json.dumps(_event(root)))
        for bundle in bundles.values():  # once untimed: the page cache is warm, as on a warm Lambda host
            _run_once(python, bundle, event)
        walls: dict[str, list[float]] = {name: [] for name in bundles}
        cpus: dict[str, list[float]] = {name: [] for name in bundles}
        modules: dict[str, int] = {}
        for _ in range(repeats):
            for name, bundle in bundles.items():
                wall, cpu, modules[name] = _run_once(python, bundle, event)
                walls[name].append(wall)
                cpus[name].append(cpu)
        leaked = [name for name in ("before", "after_no_pyc") if list(bundles[name].rglob("*.pyc"))]
        assert not leaked, f"bytecode was written into {leaked}: the comparison would be void"
    wall_medians = {name: statistics.median(values) for name, values in walls.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpus.items()}
    return {
        "repeats": repeats,
        "python": python,
        "before_revision": revision,
        "load_average": os.getloadavg(),
        "median_seconds": wall_medians,
        "median_cpu_seconds": cpu_medians,
        "modules": modules,
        "ratio": wall_medians["after"] / wall_medians["before"],
        "cpu_ratio": cpu_medians["after"] / cpu_medians["before"],
    }


def lines(result: dict[str, Any]) -> list[str]:
    """Figure 7 for the printed table."""
    seconds, cpu, modules = result["median_seconds"], result["median_cpu_seconds"], result["modules"]

    def row(name: str, label: str) -> str:
        return (
            f"   {label:50} wall {seconds[name] * 1000:>6,.0f} ms  CPU {cpu[name] * 1000:>5,.0f} ms  "
            f"{modules[name]:>4} modules"
        )

    return [
        "",
        f"7. Lambda cold start from the bundle, first event handled ({result['python']} -I -S, median of "
        f"{result['repeats']})",
        row("before", f"before ({result['before_revision']}: no .pyc, as make deploy shipped)"),
        row("before_pyc", "before, with .pyc"),
        row("after_no_pyc", "after, without .pyc (import cuts alone)"),
        row("after", "after (make bundle)"),
        f"   after / before: wall {result['ratio']:.2f}×, CPU {result['cpu_ratio']:.2f}× "
        f"(load average {result['load_average'][0]:.1f})",
    ]
