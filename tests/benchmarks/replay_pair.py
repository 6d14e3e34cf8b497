"""A git ref and the working tree replaying one archive at the same time: each main process's CPU, their
ratio, and whether the two stores hold the same model (issue 24).

    .venv/bin/python -m tests.benchmarks.replay_pair REF [--shape visitors] [--size 1000000] [--rounds 1]

Why at the same time: on this project's shared 2-core VM one code's 1M replay took 74 to 101 main-process
CPU seconds within an hour with nothing else running, so sequential runs (even ``against.py``'s back to
back) compare the machine's moments as much as the code. Run at once, the two replays share those moments:
the ratio of their main processes' CPU seconds repeated within ±2 % where sequential runs of one code
varied by ±15 %. Each side runs alone on a core for its main process, and the two intake processes share
the rest: absolute figures here are not a replay's on its own machine (``make bench-scale`` gives those).

The ref is built by ``ref_tree`` (its own checkout and venv); each side is ``pue replay`` in a child process
into its own state dir, measured as ``make bench-scale`` measures it (scale.replay_run). Then both stores
are compared table by table: a SHA-256 over every row of the model, the interactions (as
``interactions_readable``), the Personas traits and the model's tick, by names, not ids. A change that
claims to keep the model must print ``identical``. Results: stdout and ``bench-results/replay-pair.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from tests.benchmarks import archive, provenance
from tests.benchmarks.ref_tree import ROOT, ref_tree
from tests.benchmarks.scale import replay_run

# What must be equal for two stores to hold the same model and data, each read in a fixed order by names.
COMPARED: Final = {
    "model_items": "SELECT item_id, actors, norm, log_heat, unpruned FROM model_items ORDER BY item_id",
    "model_actors": "SELECT actor, items FROM model_actors ORDER BY actor",
    "model_history": "SELECT a.actor, i.item_id, h.last_ts, h.tick FROM model_history AS h "
    "JOIN model_actors AS a ON a.id = h.actor JOIN model_items AS i ON i.id = h.item ORDER BY 1, 2",
    "model_pairs": "SELECT x.item_id, y.item_id, p.actors FROM model_pairs AS p "
    "JOIN model_items AS x ON x.id = p.a JOIN model_items AS y ON y.id = p.b ORDER BY 1, 2",
    "interactions": "SELECT seq, event_id, event_type, session_id, user_id, item_id, sent_ts, utc_offset_us, "
    "event_value, properties, recommendation_id, impression FROM interactions_readable ORDER BY seq",
    "traits": "SELECT user_id, name, value FROM traits ORDER BY 1, 2",
    "model_meta": "SELECT key, value FROM model_meta ORDER BY 1",
}


def _say(message: str) -> None:
    print(f"[replay-pair {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def digests(store: Path) -> dict[str, list[Any]]:
    """Per compared table: its row count and a SHA-256 of its rows."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        found: dict[str, list[Any]] = {}
        for name, sql in COMPARED.items():
            digest, rows = hashlib.sha256(), 0
            for row in conn.execute(sql):
                digest.update(repr(row).encode())
                rows += 1
            found[name] = [rows, digest.hexdigest()]
        return found
    finally:
        conn.close()


def round_at_once(source: Path, work: Path, ref_root: Path, ref_python: Path, ref_env: dict[str, str]) -> Any:
    """Both replays started together; their figures when both have ended."""
    sides: dict[str, dict[str, Any]] = {}
    states = {"ref": work / "state-ref", "tree": work / "state-tree"}
    for state in states.values():
        for stale in state.glob("pue.sqlite3*"):
            stale.unlink()

    def run(side: str) -> None:
        if side == "ref":
            sides[side] = replay_run(source, states[side], python=str(ref_python), cwd=ref_root, env=ref_env)
        else:
            sides[side] = replay_run(source, states[side], cwd=ROOT)

    threads = [threading.Thread(target=run, args=(side,)) for side in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if set(sides) != set(states):
        raise SystemExit("replay-pair: a replay failed (see above)")
    ref_tables = digests(states["ref"] / "pue.sqlite3")
    tree_tables = digests(states["tree"] / "pue.sqlite3")
    return {
        "ref": {k: sides["ref"][k] for k in ("wall_seconds", "main_cpu_seconds", "cpu_seconds")},
        "tree": {k: sides["tree"][k] for k in ("wall_seconds", "main_cpu_seconds", "cpu_seconds")},
        "main_cpu_ratio": round(sides["tree"]["main_cpu_seconds"] / sides["ref"]["main_cpu_seconds"], 3),
        "different_tables": sorted(t for t in COMPARED if ref_tables[t] != tree_tables[t]),
        "tables": {"ref": ref_tables, "tree": tree_tables},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.replay_pair", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("ref", help="a commit, branch or tag to replay beside the working tree")
    parser.add_argument("--shape", choices=sorted(archive.SHAPES), default="visitors")
    parser.add_argument("--size", type=int, default=1_000_000, help="archive records (default 1,000,000)")
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=1, help="pairs to run, one after the other")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    args = parser.parse_args(argv)
    run = provenance.begin()
    work = args.out / "replay-pair"
    work.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.shape == "shop" else f"-{args.shape}"
    source = (
        args.out / "scale" / f"archive-{args.size}-{args.items}{suffix}.jsonl.gz"
    )  # shared with bench-scale
    if not source.exists():
        _say(f"generating {args.size:,} interactions over {args.items:,} items ({args.shape})")
        archive.write(source, args.size, args.items, shape=args.shape)
    rounds = []
    with ref_tree(args.ref) as ref:
        for number in range(1, args.rounds + 1):
            _say(f"round {number}: {ref.ref} ({ref.commit[:12]}) and the working tree replay {source.name}")
            result = round_at_once(source, work, ref.root, ref.python, ref.env())
            rounds.append(result)
            same = (
                "identical" if not result["different_tables"] else f"DIFFERENT: {result['different_tables']}"
            )
            _say(
                f"main process CPU s: {ref.ref} {result['ref']['main_cpu_seconds']}, working tree "
                f"{result['tree']['main_cpu_seconds']}, ratio {result['main_cpu_ratio']}; stores {same}"
            )
        commit = ref.commit
    document = {
        "ref": args.ref,
        "ref_commit": commit,
        "shape": args.shape,
        "size": args.size,
        "rounds": rounds,
    }
    provenance.write(args.out / "replay-pair.json", document, run)
    print(
        json.dumps(
            {
                "ratios": [r["main_cpu_ratio"] for r in rounds],
                "different": [r["different_tables"] for r in rounds],
            }
        )
    )
    return 1 if any(r["different_tables"] for r in rounds) else 0


if __name__ == "__main__":
    sys.exit(main())
