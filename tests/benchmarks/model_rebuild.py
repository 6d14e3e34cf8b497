"""How long an old store's model rebuild takes (issue 24): destinations/local/model_rebuild.py at scale.

    .venv/bin/python -m tests.benchmarks.model_rebuild bench-results/concurrent/state-alone-1000000

Copies the store of a state dir (a replay's: ``make bench-scale`` or ``make bench-concurrent`` leave them in
bench-results/) to a temporary folder, empties its model tables, as a store written before the model's
version 2 has them after its interactions are migrated, and opens it as every pue command does: the model
is rebuilt from the stored interactions. Prints the wall and CPU seconds of the open, the interactions
folded in, and the load average (a shared machine: the CPU seconds are the steadier figure).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from destinations.local import LocalBackend

MODEL_TABLES = ("model_items", "model_actors", "model_history", "model_pairs", "model_meta")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.model_rebuild", description=__doc__.split("\n")[0]
    )
    parser.add_argument("state", type=Path, help="a state dir with a replayed store")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pue-rebuild-") as folder:
        state = Path(folder)
        for part in args.state.glob("pue.sqlite3*"):
            shutil.copyfile(part, state / part.name)
        with closing(sqlite3.connect(state / "pue.sqlite3")) as conn:
            for table in MODEL_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
            conn.commit()
            interactions = int(conn.execute("SELECT COUNT(*) FROM interactions").fetchone()[0])
        load = os.getloadavg()
        started, cpu = time.perf_counter(), time.process_time()
        LocalBackend.open(state).close()
        result = {
            "interactions": interactions,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu, 1),
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
