"""Running totals of the pipeline's per-record accounting, kept in the local store (``GET /stats``).

Every ``Pipeline.handle`` batch (``pue run``, ``pue replay``, the Kinesis handler on the local backend) and
every event ``POST /events`` tracked or filtered adds its ``BatchCounts`` here, so any process reading
the state dir sees what all of them did. These are counts of deliveries, as a metric would be: a record
redelivered or replayed again counts again, even though the store keeps its events once.

In the cloud the same figures are the pipeline's structured log lines (CloudWatch); nothing is kept.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from destinations.local.store import LocalStore
from schemas.batch import COUNT_FIELDS, MAX_REASON_KEYS, OTHER_REASONS, SAMPLE_SIZE, BatchCounts

STATS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS pipeline_counts (
    name TEXT PRIMARY KEY,                   -- a BatchCounts field: records, processed, filtered...
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS pipeline_reasons (
    kind TEXT NOT NULL,                      -- filtered | dead_lettered | failed
    reason TEXT NOT NULL,                    -- low-cardinality by design (consumers.stream.normalize)
    count INTEGER NOT NULL,
    PRIMARY KEY (kind, reason)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS pipeline_samples (
    name TEXT PRIMARY KEY,                   -- an unmapped event's name, truncated (Filtered.sample)
    count INTEGER NOT NULL                   -- at most SAMPLE_SIZE rows: pruned on every write
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
            # Bounded whatever arrives: a reason new to a kind that has MAX_REASON_KEYS already counts as
            # OTHER_REASONS, so GET /stats reads at most that many rows per kind (issue 14).
            conn.executemany(
                "INSERT INTO pipeline_reasons (kind, reason, count) VALUES (?1, CASE "
                "WHEN EXISTS (SELECT 1 FROM pipeline_reasons WHERE kind = ?1 AND reason = ?2) THEN ?2 "
                "WHEN (SELECT COUNT(*) FROM pipeline_reasons WHERE kind = ?1) < ?4 THEN ?2 ELSE ?5 END, ?3) "
                "ON CONFLICT (kind, reason) DO UPDATE SET count = count + excluded.count",
                [
                    (kind, _storable(reason), n, MAX_REASON_KEYS, OTHER_REASONS)
                    for kind, reasons in _reasons(counts).items()
                    for reason, n in reasons.items()
                ],
            )
            if counts.unmapped_events:
                self._add_sample(conn, counts.unmapped_events)

    @staticmethod
    def _add_sample(conn: sqlite3.Connection, sample: dict[str, int]) -> None:
        """Merge a batch's sample into the stored one and keep the heaviest SAMPLE_SIZE names; a name that
        enters a full sample starts from the count of the name it displaced (space-saving, as in
        ``schemas.batch.count_sample``), so a name seen often but in small doses still climbs in."""
        floor_row = conn.execute("SELECT MIN(count), COUNT(*) FROM pipeline_samples").fetchone()
        floor = int(floor_row[0]) if floor_row[1] >= SAMPLE_SIZE else 0
        conn.executemany(
            "INSERT INTO pipeline_samples (name, count) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET count = count + excluded.count - ?",
            [(_storable(name), n + floor, floor) for name, n in sample.items()],
        )
        conn.execute(
            "DELETE FROM pipeline_samples WHERE name NOT IN "
            "(SELECT name FROM pipeline_samples ORDER BY count DESC, name LIMIT ?)",
            (SAMPLE_SIZE,),
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
            for name, count in conn.execute("SELECT name, count FROM pipeline_samples"):
                totals.unmapped_events[str(name)] = int(count)
        return totals


def _storable(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (JSON allows ``"\\ud800"``, UTF-8 does not) is kept as
    its escape. Without this, SQLite's encoding fails and the whole batch's counts are lost (issue 23)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
