"""Running totals of the pipeline's per-record accounting, kept in the local store (``GET /stats``).

Every ``Pipeline.handle`` batch (``pue run``, ``pue replay``, the Kinesis handler on the local backend) and
every event ``POST /events`` tracked or filtered adds its ``BatchCounts`` here, so any process reading
the state dir sees what all of them did. These are counts of deliveries, as a metric would be: a record
redelivered or replayed again counts again, even though the store keeps its events once.

In the cloud the same figures are the pipeline's structured log lines (CloudWatch); nothing is kept.
"""

from __future__ import annotations

from typing import Final

from destinations.local.store import LocalStore
from schemas.batch import COUNT_FIELDS, BatchCounts

STATS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS pipeline_counts (
    name TEXT PRIMARY KEY,                   -- a BatchCounts field: records, processed, filtered...
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS pipeline_reasons (
    kind TEXT NOT NULL,                      -- filtered | dead_lettered | failed
    reason TEXT NOT NULL,                    -- low-cardinality by design (consumers.normalize)
    count INTEGER NOT NULL,
    PRIMARY KEY (kind, reason)
) WITHOUT ROWID;
"""


def _reasons(counts: BatchCounts) -> dict[str, dict[str, int]]:
    return {
        "filtered": counts.filter_reasons,
        "dead_lettered": counts.dead_letter_reasons,
        "failed": counts.failure_reasons,
    }


class LocalPipelineStats:
    """Adds batches' counts up in two small tables; one write transaction per batch."""

    def __init__(self, store: LocalStore) -> None:
        store.ensure_schema(STATS_SCHEMA)
        self._store = store

    def record(self, counts: BatchCounts) -> None:
        with self._store.transaction() as conn:
            conn.executemany(
                "INSERT INTO pipeline_counts (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                [(name, getattr(counts, name)) for name in COUNT_FIELDS if getattr(counts, name)],
            )
            conn.executemany(
                "INSERT INTO pipeline_reasons (kind, reason, count) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, reason) DO UPDATE SET count = count + excluded.count",
                [
                    (kind, reason, n)
                    for kind, reasons in _reasons(counts).items()
                    for reason, n in reasons.items()
                ],
            )

    def totals(self) -> BatchCounts:
        """Everything recorded so far, reasons included."""
        totals = BatchCounts()
        with self._store.transaction(write=False) as conn:
            for name, value in conn.execute("SELECT name, value FROM pipeline_counts"):
                if name in COUNT_FIELDS:
                    setattr(totals, name, int(value))
            by_kind = _reasons(totals)
            for kind, reason, count in conn.execute("SELECT kind, reason, count FROM pipeline_reasons"):
                if str(kind) in by_kind:
                    by_kind[str(kind)][str(reason)] = int(count)
        return totals
