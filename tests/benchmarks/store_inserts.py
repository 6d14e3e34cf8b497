"""``LocalStore.add_interactions`` alone: CPU per event and bytes per event of each interactions B-tree.

    .venv/bin/python -m tests.benchmarks.store_inserts [--events 200000]

Calls shaped like a replay's: one (user, session) per call with 1-9 events (the tracker's PutEvents
groups), 2,500 calls per transaction with a savepoint each (``LocalEventTracker.batch``), Zipf-ish users,
30,000 items, UUID event ids, 16-hex-digit sessions (as tests/benchmarks/archive.py writes them). Then the
first 5,000 calls again: every event is a redelivery. Sizes come from SQLite's dbstat (pages, so fill
factor included). To compare with another version of the store, run the same command from a checkout of
it (``git archive <commit> | tar -x -C DIR``; run from DIR so its modules are imported).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from destinations.local.store import LocalStore
from schemas.interaction import Interaction

_TYPES = ["Product Viewed"] * 8 + ["Product Added", "Order Completed"]
_CALLS_PER_TRANSACTION = 2_500


def calls(events: int, seed: int = 15) -> list[list[Interaction]]:
    rng = random.Random(seed)  # noqa: S311 - benchmark data
    users = [f"user-{n}" for n in range(max(1, events // 30))]
    sent_at = datetime(2026, 9, 1, tzinfo=UTC)
    made: list[list[Interaction]] = []
    total = 0
    while total < events:
        popular = min(int(rng.paretovariate(1.2)) - 1, len(users) - 1)
        user = users[popular] if rng.random() < 0.5 else rng.choice(users)
        session = f"{rng.getrandbits(64):016x}"
        group = []
        for _ in range(rng.randint(1, 9)):
            sent_at += timedelta(milliseconds=rng.randint(1, 2000))
            event_id = str(uuid.UUID(int=rng.getrandbits(128)))
            item = f"item-{rng.randint(0, 30_000)}"
            group.append(Interaction(event_id, rng.choice(_TYPES), session, sent_at, user, item))
        made.append(group)
        total += len(group)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    work = calls(args.events)
    events = sum(len(group) for group in work)
    with tempfile.TemporaryDirectory() as state, LocalStore.in_state_dir(Path(state)) as store:
        started = time.process_time()
        for start in range(0, len(work), _CALLS_PER_TRANSACTION):
            with store.transaction():
                for group in work[start : start + _CALLS_PER_TRANSACTION]:
                    with store.transaction():
                        store.add_interactions(group)
        cpu = time.process_time() - started
        started = time.process_time()
        with store.transaction():
            for group in work[:5_000]:
                assert store.add_interactions(group) == []
        redelivered = time.process_time() - started
        with store.transaction(write=False) as conn:
            sizes = conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE '%interaction%' "
                "GROUP BY name ORDER BY 2 DESC"
            ).fetchall()
    print(f"{events:,} events in {len(work):,} calls: {cpu:.2f} CPU s, {events / cpu:,.0f} events per CPU s")
    print(f"redelivery of the first 5,000 calls: {redelivered:.2f} CPU s")
    print("bytes per event: " + ", ".join(f"{name} {size / events:.1f}" for name, size in sizes))
    print(f"  total {sum(size for _, size in sizes) / events:.1f}")


if __name__ == "__main__":
    main()
