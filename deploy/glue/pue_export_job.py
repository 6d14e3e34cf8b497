"""AWS Glue (and ``spark-submit``) entry point of ``pue export --engine spark``: the job's script.

Glue runs a script file from S3 and installs pue from its wheel (``--additional-python-modules``); this
script only turns the job's arguments into a ``pue export`` command line. Glue passes every job parameter
as ``--name value`` and adds its own (``--JOB_ID``, ``--JOB_RUN_ID``, ``--TempDir``...), so the export's
arguments travel as one parameter, ``--pue-args "s3://archive/... --out s3://output/... --user-fields plan"``
(shell-quoted), and everything else is left to Glue. ``spark-submit pue_export_job.py PATH... --out DIR``
passes the export's arguments directly instead.

Exit status: 0 when the datasets were written, 2 when an input cannot be read, 1 on a configuration error
(``pue export``'s own); a non-zero status fails the Glue job run.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

PUE_ARGS = "--pue-args"


def export_argv(argv: Sequence[str]) -> list[str]:
    """The ``pue`` command line for this job run's arguments (``argv`` without the script's name)."""
    args = list(argv)
    if PUE_ARGS in args:
        at = args.index(PUE_ARGS)
        if at + 1 >= len(args):
            raise SystemExit(
                f"{PUE_ARGS} needs a value: the pue export arguments, e.g. 's3://... --out s3://...'"
            )
        args = shlex.split(args[at + 1])
    if "--engine" in args:
        raise SystemExit("the job always runs --engine spark: leave --engine out of its arguments")
    return ["export", *args, "--engine", "spark"]


def main(argv: Sequence[str] | None = None) -> int:
    from consumers.cli import main as pue

    return pue(export_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
