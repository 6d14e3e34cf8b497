"""Wiring for ``pue export --engine spark``: the storage (local and S3) and the SparkSession.

pyspark is an optional dependency (``pip install 'pue[spark]'``; AWS Glue and EMR bring their own): it is
imported here, when the Spark engine is asked for, never by ``pue`` itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from consumers.onboarding.spark.storage import ByScheme, Storage
from schemas.errors import ConfigError


def export_storage() -> Storage:
    """Local paths, and ``s3://`` through the S3 adapter (its client is built where it is first used)."""
    from destinations.aws.s3_archive import S3Storage

    return ByScheme(S3Storage())


def spark_session(master: str | None, conf: Mapping[str, str] | None = None) -> tuple[Any, bool]:
    """(session, whether it is new): the running session (a test's, a notebook's) or a new one, on
    ``master`` when given, else Spark's default (spark-submit's or Glue's cluster; ``local[*]`` on a
    laptop), with ``conf`` settings. Whoever gets a new one stops it. ``ConfigError`` without pyspark."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError(
            ["--engine spark needs pyspark: pip install 'pue[spark]' (AWS Glue and EMR provide it)"]
        ) from exc
    running = SparkSession.getActiveSession()
    if running is not None:
        return running, False
    builder = SparkSession.builder.appName("pue export")
    if master:
        builder = builder.master(master)
    if "PYSPARK_GATEWAY_PORT" not in os.environ and "PYSPARK_PYTHON" not in os.environ:
        # Started by pue, not spark-submit: local executors run this interpreter (pue's virtualenv), not
        # whatever "python3" is first on PATH. A cluster's executors keep their own (Glue: its Python 3.11).
        # pyspark reads the variable, not a setting (pyspark/context.py, pythonExec).
        os.environ["PYSPARK_PYTHON"] = sys.executable
    # A console progress bar of the stages when someone watches a terminal; the Spark UI shows the same.
    builder = builder.config("spark.ui.showConsoleProgress", str(sys.stderr.isatty()).lower())
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate(), True
