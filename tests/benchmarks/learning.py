"""The local model's learning alone, at scale: what `pue replay` spends on it, and the model's size.

    .venv/bin/python -m tests.benchmarks.learning [--size 1000000] [--batch 10000] [--items 30000]

Reads the archive of ``make bench-scale`` (tests/benchmarks/archive.py; written first when missing) in
batches of ``--batch`` interactions and folds each into a fresh store as a backfill does: one store
transaction per batch, ``LocalRecommender.learn`` inside it, then the commit. No decoding, no normalizing,
no interactions table: the CPU seconds are learning's own (the commit included), per 100,000 interactions
as the model grows, so a slope shows. Then the model's bytes per interaction, table by table (SQLite's
``dbstat``), and the process's peak RSS. Results: stdout (one JSON line) and ``bench-results/learning.json``
(with its provenance, so ``against.py --result learning.json`` can put a ref beside it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from destinations.local.recommender import LocalRecommender
from destinations.local.store import LocalStore
from schemas.interaction import Interaction
from tests.benchmarks import archive, provenance

ROOT = Path(__file__).resolve().parents[2]
_MARK = 100_000


def interactions(source: Path, size: int) -> Iterator[Interaction]:
    """The archive's first ``size`` messages as the interactions normalizing them gives (one product each)."""
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if n == size:
                return
            m = json.loads(line)
            props = m["properties"]
            product = props["products"][0] if "products" in props else props
            sent_at = datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00"))
            yield Interaction(
                m["messageId"], m["event"], m["anonymousId"], sent_at, m.get("userId"), product["product_id"]
            )


def learn(source: Path, state: Path, size: int, batch: int) -> dict[str, object]:
    for stale in state.glob("pue.sqlite3*"):
        stale.unlink()
    store = LocalStore.in_state_dir(state)
    recommender = LocalRecommender(store)
    cpu, marks, pending, done = 0.0, [], [], 0
    try:
        for it in interactions(source, size):
            pending.append(it)
            if len(pending) == batch:
                cpu += _timed_learn(store, recommender, pending)
                done += len(pending)
                pending = []
                if done % _MARK < batch:
                    marks.append(round(cpu, 1))
        if pending:
            cpu += _timed_learn(store, recommender, pending)
            done += len(pending)
    finally:
        store.close()
    tables = _table_bytes(state / "pue.sqlite3")
    return {
        "interactions": done,
        "batch": batch,
        "learn_cpu_seconds": round(cpu, 1),
        "interactions_per_cpu_second": round(done / cpu),
        "cpu_seconds_at_each_100k": marks,
        "model_bytes_per_interaction": {name: round(b / done, 1) for name, b in tables.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _timed_learn(store: LocalStore, recommender: LocalRecommender, batch: list[Interaction]) -> float:
    started = time.process_time()
    with store.transaction():  # as LocalEventTracker.batch(): learn, then commit
        recommender.learn(batch)
    return time.process_time() - started


def _table_bytes(path: Path) -> dict[str, int]:
    """Bytes per model table and index (dbstat), or the whole file when this SQLite has no dbstat."""
    with sqlite3.connect(path) as conn:
        try:
            rows = conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat "
                "WHERE name LIKE 'model%' OR name LIKE 'sqlite_autoindex_model%' "
                "GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
        except sqlite3.OperationalError:
            return {"file": path.stat().st_size}
    return {str(name): int(size) for name, size in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.learning", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", type=int, default=1_000_000, help="interactions to learn")
    parser.add_argument("--batch", type=int, default=10_000, help="interactions per transaction")
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    run = provenance.begin()
    work = args.out / "scale"
    archive_size = max(args.size, 100_000)
    source = work / f"archive-{archive_size}-{args.items}.jsonl.gz"
    if not source.exists():
        print(f"generating {archive_size:,} interactions into {source}", file=sys.stderr)
        archive.write(source, archive_size, args.items)
    row = learn(source, work / f"learn-{args.size}", args.size, args.batch)
    provenance.write(args.out / "learning.json", row, run)
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
