"""python -m tests.rehearsal [--template PATH]: rehearse the stack; exit 1 naming every problem found."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.rehearsal.run import ROOT, rehearse


def runtime_python() -> str:
    """python3.12, the template's runtime, found as `make bundle` finds it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pue_bundle", ROOT / "deploy" / "bundle.py")
    assert spec is not None and spec.loader is not None
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    runtime, _ = bundle.runtime_and_arch()
    return str(bundle.find_python(runtime, None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.rehearsal", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--template",
        type=Path,
        default=ROOT / "deploy" / "template.yaml",
        help="the SAM template (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"rehearse: {args.template} on moto and the loopback stand-in ...", flush=True)
    report = rehearse(args.template.resolve(), runtime_python())
    for note in report.notes:
        print(f"rehearse: {note}")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
    print(f"rehearse: {timings}; total {time.monotonic() - started:.1f} s")
    for problem in report.problems:
        print(f"rehearse: FAIL {problem}", file=sys.stderr)
    # The plain closing line CI reads: each expectation, variable read, call, alarm metric and the wiring.
    print(f"rehearse: {report.checked - len(report.problems)} passed, {len(report.problems)} failed")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
