"""Figure 4, cold start: a fresh interpreter importing ``consumers.kinesis`` against one importing boto3.

Each variant is a new process (``python -c ...``), timed from spawn to exit, repeated and interleaved so
background load hits every variant alike; the median counts. The first-invocation init (settings, every
adapter and its boto3 client built, as Lambda's first event does) is timed too, against boto3 building the
same four clients, for context: pue defers that work to the first event on purpose.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

VARIANTS = {
    "python": "pass",
    "import_boto3": "import boto3",
    "import_consumers_kinesis": "import consumers.kinesis",
    "init_boto3_clients": (
        "import boto3; s = boto3.session.Session(); "
        "[s.client(n) for n in ('personalize-events', 'personalize-runtime', 'pinpoint', 'sqs')]"
    ),
    "init_pue_pipeline": (
        "import consumers.kinesis; from consumers.bootstrap.stream import build_pipeline; "
        "from consumers.config.settings import Settings; build_pipeline(Settings.from_env())"
    ),
}


def _time_once(code: str, env: Mapping[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=dict(env), cwd=cwd, check=True)
    return time.perf_counter() - started


def measure(env: Mapping[str, str], *, root: Path, repeats: int = 11) -> dict[str, object]:
    """Medians in seconds per variant, and the two ratios. ``env`` carries settings for the init variants."""
    child_env = {**os.environ, **env, "PYTHONPATH": str(root)}
    for code in VARIANTS.values():  # once untimed: the page cache and .pyc files are warm, as on Lambda
        _time_once(code, child_env, root)
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, code in VARIANTS.items():
            samples[name].append(_time_once(code, child_env, root))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "repeats": repeats,
        "median_seconds": medians,
        "ratio": medians["import_consumers_kinesis"] / medians["import_boto3"],
        "init_ratio": medians["init_pue_pipeline"] / medians["init_boto3_clients"],
    }
