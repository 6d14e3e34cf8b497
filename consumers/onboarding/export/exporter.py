"""Segment history -> Personalize datasets, through the stream's own decode and normalize code.

Each line goes through ``consumers.stream.decode.decode_record`` (UTF-8, JSON object, same rejections) and
``consumers.stream.normalize.normalize`` with the same event map the Kinesis handler uses, so a message
becomes the same interactions (event ids, types, item ids, timestamps, properties) in training data as in real
time. Repeats are dropped by event id, as the stream's store and Personalize do.

Memory stays flat: input is read a line at a time, output written a row at a time, and everything that
must be remembered across the input lives in the scratch file (see ``scratch`` and ``identity``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

from consumers.onboarding.export.avro import DatasetKind, schema_path_for, write_schema
from consumers.onboarding.export.entries import (
    DEFAULT_ITEM_FIELDS,
    Counted,
    DeadLetter,
    ExportOptions,
    ExportPlan,
    Link,
    Row,
    Traits,
    line_entries,
)
from consumers.onboarding.export.fields import FieldValues
from consumers.onboarding.export.identity import IdentityLinks
from consumers.onboarding.export.reader import Line, LineReader, discover
from consumers.onboarding.export.scratch import Scratch
from consumers.onboarding.export.summary import ExportSummary, bump
from consumers.onboarding.export.writer import CsvFile, DeadLetterFile, MetadataFile
from schemas.limits import PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS

__all__ = ["DEFAULT_ITEM_FIELDS", "ExportOptions", "export"]

# Lines per scratch transaction: large enough to amortize a commit, small enough to bound the buffers.
CHUNK_LINES: Final = 2_000
NO_ITEM: Final = "no item id (Personalize interactions need ITEM_ID)"
ANONYMOUS: Final = "anonymous (no userId; identity linking is off)"
NEVER_IDENTIFIED: Final = "anonymous, never identified"
DEAD_LETTERS_FILE: Final = "dead_letters.jsonl"

Progress = Callable[[int, int], None]  # (messages read, input bytes read)


def export(
    paths: Iterable[Path], out_dir: Path, options: ExportOptions, progress: Progress | None = None
) -> ExportSummary:
    """Read every input, write the datasets and their schemas into ``out_dir``; ``ConfigError`` or
    ``reader.InputError`` when the options or inputs are unusable."""
    started = time.perf_counter()
    inputs = discover(paths)
    run = _Export(out_dir, options)
    run.summary.files, run.summary.skipped_files = len(inputs.files), len(inputs.skipped)
    reader = LineReader(inputs.files)
    try:
        run.consume(reader, progress)
        run.finish()
    except BaseException:
        run.abort()
        raise
    run.summary.seconds = time.perf_counter() - started
    return run.summary


class _Export:
    def __init__(self, out_dir: Path, options: ExportOptions) -> None:
        self.plan = ExportPlan.of(options)
        self.columns = self.plan.columns()
        self.users, self.items = FieldValues(self.plan.users), FieldValues(self.plan.items)
        self.out_dir = out_dir
        self.summary = ExportSummary()
        out_dir.mkdir(parents=True, exist_ok=True)
        self.dead_letters = DeadLetterFile(out_dir / DEAD_LETTERS_FILE)
        self.interactions = CsvFile(out_dir / "interactions.csv", self.columns.header)
        try:
            self.scratch = Scratch(options.scratch_dir)
        except BaseException:
            self.interactions.abort()
            raise
        self.links = IdentityLinks(self.scratch) if self.plan.link_identities else None
        self._pending: list[Row] = []

    # reading

    def consume(self, reader: LineReader, progress: Progress | None) -> None:
        lines = 0
        self.scratch.begin()
        for line in reader:
            self._line(line)
            lines += 1
            if lines % CHUNK_LINES == 0:
                self._settle()
                self.scratch.commit()
                if progress:
                    progress(self.summary.messages, reader.bytes_done)
                self.scratch.begin()
        self._settle()
        self.scratch.commit()
        if progress:
            progress(self.summary.messages, reader.bytes_done)

    def _line(self, line: Line) -> None:
        for entry in line_entries(line, self.plan, self.columns):
            if isinstance(entry, Row):
                self._pending.append(entry)
            elif isinstance(entry, Counted):
                self.summary.count_message(entry.filtered, entry.clamped)
            elif isinstance(entry, Link):
                if self.links is not None:
                    self.links.observe(entry.anonymous_id, entry.user_id)
            elif isinstance(entry, Traits):
                self.users.observe(entry.read)
                cells = entry.read.cells
                if cells:
                    self.scratch.set_fields("users", ((entry.user_id, c, t) for c, t in cells.items()))
            else:
                self._dead_letter(line, entry)

    def _dead_letter(self, line: Line, entry: DeadLetter) -> None:
        self.summary.count_dead_letter(entry.reason)
        self.dead_letters.write(line.path, line.number, entry.reason, line.data)

    # writing: one chunk's interactions, after dedupe against everything exported so far

    def _settle(self) -> None:
        pending, self._pending = self._pending, []
        fresh = self.scratch.first_seen([row.event_id for row in pending])
        users: list[str] = []
        items: dict[str, dict[str, str]] = {}
        for row, new in zip(pending, fresh, strict=True):
            if not new:
                self.summary.duplicates += 1
                continue
            item_id = row.item_id
            if item_id is None:
                bump(self.summary.dropped, NO_ITEM)
                continue
            self.columns.metadata.observe(row.metadata)
            if row.user_id is not None:
                self.interactions.write([row.user_id, *row.cells])
                users.append(row.user_id)
            elif self.links is not None:
                self.links.park(row.anonymous_id, row.cells)
            else:
                bump(self.summary.dropped, ANONYMOUS)
                continue
            if self.items.specs:
                # Every field keeps its last value ("last value wins", as across chunks).
                self.items.observe(row.item)
                items[item_id] = items.get(item_id, {}) | row.item.cells
        self.scratch.count_users(users)
        self.scratch.set_fields("items", _item_rows(items))

    # the end: attribute parked anonymous rows, then write users, items and the schemas

    def finish(self) -> None:
        self.dead_letters.close()
        if self.dead_letters.written:
            self.summary.outputs["dead_letters"] = str(self.dead_letters.path)
        summary = self.summary
        if self.links is not None:
            self._attribute(self.links)
            summary.link_conflicts = self.links.conflicts
        summary.interactions = self.interactions.rows
        summary.users, summary.active_users = self.scratch.user_totals(
            PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS
        )
        path = self.interactions.commit()
        summary.outputs["interactions"] = str(path)
        write_schema(schema_path_for(path), "interactions", self.columns.avro_fields())
        if self.users.specs:
            summary.user_rows = self._metadata_file("users", "USER_ID", self.users)
        if self.items.specs:
            summary.items = self._metadata_file("items", "ITEM_ID", self.items)
        summary.values_too_long = sum(v.too_long for v in (self.columns.metadata, self.users, self.items))
        self.scratch.close()

    def _attribute(self, links: IdentityLinks) -> None:
        users: list[str] = []
        self.scratch.begin()
        for user_id, row in links.resolve():
            if user_id is None:
                bump(self.summary.dropped, NEVER_IDENTIFIED)
                continue
            self.interactions.write([user_id, *row])
            self.summary.linked += 1
            users.append(user_id)
            if len(users) >= CHUNK_LINES:
                self.scratch.count_users(users)
                users = []
        self.scratch.count_users(users)
        self.scratch.commit()

    def _metadata_file(self, kind: DatasetKind, id_column: str, values: FieldValues) -> int:
        path = self.out_dir / f"{kind}.csv"
        out = MetadataFile(path, id_column, values)
        try:
            for row_id, cells in self.scratch.field_rows(kind):
                out.write(row_id, cells)
        except BaseException:
            out.file.abort()
            raise
        self.summary.outputs[kind] = str(out.file.commit())
        write_schema(schema_path_for(path), kind, out.avro_fields(id_column))
        return out.file.rows

    def abort(self) -> None:
        # A failed export leaves nothing behind that could be mistaken for its output.
        self.dead_letters.discard()
        self.interactions.abort()
        self.scratch.close()


def _item_rows(items: dict[str, dict[str, str]]) -> Iterator[tuple[str, str, str | None]]:
    for item_id, cells in items.items():
        yield item_id, "", None  # the item exists, even without any field value
        yield from ((item_id, column, text) for column, text in cells.items())
