"""The Spark export's driver: list the archive, run pue's per-line code on the executors, join, write.

    files ─► one task a file: file_lines + line_entries (decode, normalize, event map, links, traits)
          ─► rows by event id: the first in input order wins (reduceByKey), the rest counted as duplicates
          ─► links by anonymous id: the first link wins, the others counted as conflicts (reduceByKey)
          ─► parked anonymous rows ⋈ links (leftOuterJoin): attributed, or dropped "never identified"
          ─► rows sorted by input order ─► interactions/part-NNNNN.csv (executors write their parts)
          ─► traits and item fields: the last value per (id, column) wins ─► users/ and items/ parts

Re-running on the same input gives the same files: the output folders are deleted first (never a mix of
two runs), rows are sorted by their input order before they are split into parts, and each part's name and
content follow from that order. The summary is derived from data the tasks return (see ``fold``), written
to OUT/summary.json last: its presence says the export finished.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import operator
import time
from collections.abc import Callable
from typing import Any, Final

from consumers.onboarding.export.avro import AvroField, DatasetKind, schema_text
from consumers.onboarding.export.entries import ExportOptions, ExportPlan
from consumers.onboarding.export.exporter import ANONYMOUS, NEVER_IDENTIFIED, NO_ITEM
from consumers.onboarding.export.fields import FieldValues
from consumers.onboarding.export.summary import ExportSummary, bump
from consumers.onboarding.spark import fold
from consumers.onboarding.spark.fold import Tally
from consumers.onboarding.spark.parts import PartWritten, header_only, write_parts
from consumers.onboarding.spark.storage import Storage
from consumers.onboarding.spark.watch import StageWatch
from schemas.limits import PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS

log = logging.getLogger("pue.export")

# Rows per part before the sort splits them: ~50 bytes a row makes parts of a few hundred MB, well under
# EXPORT_PART_MAX_BYTES (which the writer enforces anyway) and few enough files for a dataset import job.
ROWS_PER_PART: Final = 5_000_000
OUTPUTS: Final = ("interactions", "users", "items", "dead_letters")
SUMMARY_FILE: Final = "summary.json"


Say = Callable[[str], None]


def spark_export(
    spark: Any,
    locations: list[str],
    out: str,
    options: ExportOptions,
    storage: Storage,
    say: Say = log.info,
) -> ExportSummary:
    """Export ``locations`` (files or folders) into ``out`` with ``spark``; the summary, counted as the
    single-process export counts. ``say`` gets a line at each step (the CLI: stderr; Glue: the driver's
    log). ``ConfigError`` for unusable options, before anything is read."""
    started = time.perf_counter()
    plan = ExportPlan.of(options)
    run = _Run(spark, plan, storage, out, _Clock(started, say))
    files, skipped = storage.list_files(locations)
    run.clock.say(f"{len(files):,} files to read ({skipped:,} skipped: not .gz/.json/.jsonl/.ndjson)")
    for name in (*OUTPUTS, *(f"{kind}.schema.json" for kind in OUTPUTS[:3]), SUMMARY_FILE):
        storage.delete_tree(storage.join(out, name))  # overwrite: never a mix of two runs
    with StageWatch(run.sc, run.clock.say):
        summary = run.export(files)
    summary.files, summary.skipped_files = len(files), skipped
    summary.seconds = time.perf_counter() - started
    storage.put_text(storage.join(out, SUMMARY_FILE), json.dumps(summary.to_json(), indent=2) + "\n")
    run.clock.say(f"done: {summary.messages:,} messages, {summary.interactions:,} interactions written")
    return summary


class _Clock:
    def __init__(self, started: float, say: Say) -> None:
        self.started, self._say = started, say

    def say(self, text: str) -> None:
        self._say(f"pue export (spark) {time.perf_counter() - self.started:7.1f} s  {text}")


class _Run:
    def __init__(self, spark: Any, plan: ExportPlan, storage: Storage, out: str, clock: _Clock) -> None:
        self.sc = spark.sparkContext
        self.plan, self.storage, self.out, self.clock = plan, storage, out, clock
        self.columns = plan.columns()
        self.summary = ExportSummary()
        self.tally = Tally(
            users=FieldValues(plan.users), metadata=FieldValues(plan.metadata), items=FieldValues(plan.items)
        )

    def step(self, text: str) -> None:
        """Log it, and name the Spark jobs that follow in the Spark UI (Glue: the Spark UI tab)."""
        self.clock.say(text)
        self.sc.setJobDescription(f"pue export: {text}")

    def export(self, files: list[str]) -> ExportSummary:
        from pyspark import StorageLevel

        keep = StorageLevel.MEMORY_AND_DISK
        tasks = self.sc.parallelize(list(enumerate(files)), max(1, len(files)))
        records = tasks.flatMap(functools.partial(fold.file_records, plan=self.plan, storage=self.storage))
        records = records.persist(keep)
        self.step("reading, decoding and normalizing (one task a file)")
        self._add(records)
        self.step("dropping repeated event ids (the first in input order wins)")
        kept = _of(records, fold.ROW).reduceByKey(fold.first_occurrence)
        classify = functools.partial(fold.classify, plan=self.plan, no_item=NO_ITEM, anonymous=ANONYMOUS)
        classified = kept.mapPartitions(classify).persist(keep)
        self._add(classified)
        written = _of(classified, fold.WRITE)
        if self.plan.link_identities:
            written = written.union(self._linked(records, classified))
        written = written.persist(keep)
        self._interactions(written)
        if self.plan.users:
            traits = _of(records, fold.TRAIT)
            self.summary.user_rows = self._metadata("users", "USER_ID", traits, self.tally.counts.messages)
        if self.plan.items:
            items = _of(classified, fold.ITEM)
            self.summary.items = self._metadata("items", "ITEM_ID", items, self.tally.counts.tracked)
        self._dead_letters(records)
        for rdd in (records, classified, written):
            rdd.unpersist()
        return self._summary()

    def _add(self, rdd: Any) -> None:
        for tally in _of(rdd, fold.TALLY).values().collect():
            self.tally.merge(tally)

    def _linked(self, records: Any, classified: Any) -> Any:
        self.step("linking anonymous rows to the user who later identified (join)")
        pairs = _of(records, fold.LINK).reduceByKey(fold.earliest_and_count)
        winners = pairs.map(fold.link_pick).reduceByKey(fold.first_link).persist()
        self.summary.link_conflicts = int(winners.map(lambda kv: kv[1][3] - kv[1][2]).sum())
        users = winners.mapValues(lambda pick: pick[1])
        joined = _of(classified, fold.PARK).leftOuterJoin(users).persist()
        outcomes = joined.map(lambda kv: kv[1][1] is not None).countByValue()
        self.summary.linked = outcomes.get(True, 0)
        if outcomes.get(False):
            bump(self.tally.counts.dropped, NEVER_IDENTIFIED, outcomes[False])
        return joined.filter(lambda kv: kv[1][1] is not None).map(
            lambda kv: (kv[1][0][0], (kv[1][1], kv[1][0][1]))
        )

    def _interactions(self, written: Any) -> None:
        self.step("counting users and writing interactions")
        per_user = written.map(lambda kv: (kv[1][0], 1)).reduceByKey(operator.add)
        users, active, rows = per_user.map(
            lambda kv: (1, int(kv[1] >= PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS), kv[1])
        ).fold((0, 0, 0), lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]))
        self.summary.users, self.summary.active_users = users, active
        lines = written.sortByKey(numPartitions=_parts(rows)).map(lambda kv: (kv[1][0], *kv[1][1]))
        folder, written_rows = self._write("interactions", lines, self.columns.header)
        self.columns.metadata.merge(self.tally.metadata)
        self.summary.interactions = written_rows
        self.summary.outputs["interactions"] = folder
        self._schema("interactions", self.columns.avro_fields())

    def _metadata(self, kind: DatasetKind, id_column: str, cells: Any, most: int) -> int:
        """``most``: an upper bound of the rows (the reads seen), to choose the number of parts."""
        self.step(f"writing {kind} (the last value of each field wins)")
        values = self.tally.users if kind == "users" else self.tally.items
        columns = values.columns
        latest = cells.reduceByKey(fold.latest).map(lambda kv: (kv[0][0], (kv[0][1], kv[1][1])))
        by_id = latest.groupByKey().mapValues(fold.field_rows)
        lines = by_id.sortByKey(numPartitions=_parts(most)).map(
            lambda kv: (kv[0], *(kv[1].get(column, "") for column in columns))
        )
        self.summary.outputs[kind], count = self._write(kind, lines, (id_column, *columns))
        self._schema(kind, [AvroField(id_column, "string"), *values.avro_fields()])
        return count

    def _dead_letters(self, records: Any) -> None:
        dead = self.tally.counts.dead_lettered
        if not dead:
            return
        self.step(f"writing {dead:,} dead letters")
        lines = _of(records, fold.DEAD).sortByKey(numPartitions=_parts(dead)).values()
        self.summary.outputs["dead_letters"], _ = self._write("dead_letters", lines, None, ".jsonl")

    def _write(self, name: str, lines: Any, header: Any, suffix: str = ".csv") -> tuple[str, int]:
        """Write the parts; (folder, rows written): counted from what the tasks wrote."""
        folder = self.storage.join(self.out, name)
        write = functools.partial(
            write_parts, storage=self.storage, folder=folder, header=header, suffix=suffix
        )
        written: list[PartWritten] = lines.mapPartitionsWithIndex(write).collect()
        if not written and header is not None:
            written = [header_only(self.storage, folder, header)]
        rows = sum(n for _, n in written)
        self.clock.say(f"{name}: {rows:,} rows in {len(written)} files")
        return folder + "/", rows

    def _schema(self, kind: DatasetKind, fields: list[AvroField]) -> None:
        self.storage.put_text(self.storage.join(self.out, f"{kind}.schema.json"), schema_text(kind, fields))

    def _summary(self) -> ExportSummary:
        summary, tally = self.summary, self.tally
        summary.add(tally.counts)
        summary.values_too_long = sum(v.too_long for v in (tally.metadata, tally.users, tally.items))
        return summary


def _of(rdd: Any, kind: str) -> Any:
    """The (key, value) pairs of one kind of record: only that kind's bundles are unpickled."""
    return rdd.filter(lambda bundle: bundle[0] == kind).flatMap(fold.unbundle)


def _parts(rows: int) -> int:
    return max(1, math.ceil(rows / ROWS_PER_PART))
