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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from consumers.onboarding.export.avro import (
    REQUIRED_FIELDS,
    RESERVED_FIELDS,
    DatasetKind,
    schema_path_for,
    write_schema,
)
from consumers.onboarding.export.fields import FieldSpec, FieldValues, field_specs
from consumers.onboarding.export.identity import IdentityLinks, identity_id
from consumers.onboarding.export.messages import decode_line, item_source, normalize_guarded
from consumers.onboarding.export.reader import Line, LineReader, discover
from consumers.onboarding.export.scratch import Scratch
from consumers.onboarding.export.summary import ExportSummary, bump
from consumers.onboarding.export.writer import CsvFile, DeadLetterFile, InteractionColumns, MetadataFile
from consumers.stream.decode import Decoded
from consumers.stream.event_map import EventMap, camel_case
from schemas.interaction import Interaction
from schemas.limits import (
    PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS,
    PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS,
    PERSONALIZE_ITEMS_MAX_METADATA_FIELDS,
    PERSONALIZE_USERS_MAX_METADATA_FIELDS,
)
from schemas.outcome import Filtered, Tracked

DEFAULT_ITEM_FIELDS: Final = ("category", "price")
# Lines per scratch transaction: large enough to amortize a commit, small enough to bound the buffers.
CHUNK_LINES: Final = 2_000
NO_ITEM: Final = "no item id (Personalize interactions need ITEM_ID)"
ANONYMOUS: Final = "anonymous (no userId; identity linking is off)"
NEVER_IDENTIFIED: Final = "anonymous, never identified"
_LINE_TOO_LONG: Final = "line longer than 1 MB"
DEAD_LETTERS_FILE: Final = "dead_letters.jsonl"
_INTERACTION_NAMES: Final = (
    *REQUIRED_FIELDS["interactions"],
    *RESERVED_FIELDS["interactions"],
)

Progress = Callable[[int, int], None]  # (messages read, input bytes read)
_FieldRow = tuple[str, str, str | None]  # (id, column, value) for the scratch file's fields table


@dataclass(frozen=True, slots=True)
class ExportOptions:
    event_map: EventMap
    link_identities: bool = True
    event_value: bool = False
    metadata: tuple[str, ...] = ()  # Segment property names, added to the event map's whitelist
    user_fields: tuple[str, ...] = ()  # identify trait names (dotted paths allowed)
    item_fields: tuple[str, ...] = DEFAULT_ITEM_FIELDS  # product property names
    scratch_dir: Path | None = None


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
        # The stream forwards the event map's whitelisted properties to PutEvents as event properties;
        # export makes a metadata column of each, plus any --metadata names (added to the whitelist).
        whitelist = tuple(dict.fromkeys((*options.event_map.property_whitelist, *options.metadata)))
        self.event_map = replace(options.event_map, property_whitelist=whitelist)
        metadata = field_specs(
            whitelist,
            option="--metadata (with the event map's property_whitelist)",
            taken=_INTERACTION_NAMES,
            most=PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS,
        )
        self.columns = InteractionColumns(
            event_value=options.event_value,
            metadata=[FieldSpec(camel_case(spec.path), spec.column) for spec in metadata],
        )
        users = field_specs(
            options.user_fields,
            option="--user-fields",
            taken=("USER_ID",),
            most=PERSONALIZE_USERS_MAX_METADATA_FIELDS,
        )
        items = field_specs(
            options.item_fields,
            option="--item-fields",
            taken=("ITEM_ID", "CREATION_TIMESTAMP"),
            most=PERSONALIZE_ITEMS_MAX_METADATA_FIELDS,
        )
        self.users, self.items = FieldValues(users), FieldValues(items)
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
        self.links = IdentityLinks(self.scratch) if options.link_identities else None
        self._pending: list[tuple[Interaction, Mapping[str, Any]]] = []

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
        if line.data is None:
            self.summary.messages += 1
            self._dead_letter(line, _LINE_TOO_LONG)
            return
        for entry in decode_line(line.data):
            self.summary.messages += 1
            if isinstance(entry, Decoded):
                self._message(line, entry.message)
            else:
                self._dead_letter(line, entry.reason)

    def _message(self, line: Line, message: dict[str, Any]) -> None:
        if self.links is not None:
            self.links.observe(message)
        if self.users.specs and message.get("type") == "identify":
            self._traits(message)
        outcome = normalize_guarded(message, self.event_map)
        if isinstance(outcome, Tracked):
            self.summary.tracked += 1
            self.summary.timestamps_clamped += int(outcome.time_clamped)
            self._pending.extend((interaction, message) for interaction in outcome.interactions)
        elif isinstance(outcome, Filtered):
            self.summary.filtered += 1
            bump(self.summary.filter_reasons, outcome.reason)
        else:
            self._dead_letter(line, outcome.reason)

    def _traits(self, message: Mapping[str, Any]) -> None:
        user_id = identity_id(message.get("userId"))
        traits = message.get("traits")
        if user_id is None or not isinstance(traits, Mapping):
            return
        cells = self.users.read(traits)
        if cells:
            self.scratch.set_fields("users", ((user_id, column, text) for column, text in cells.items()))

    def _dead_letter(self, line: Line, reason: str) -> None:
        self.summary.dead_lettered += 1
        bump(self.summary.dead_letter_reasons, reason)
        self.dead_letters.write(line.path, line.number, reason, line.data)

    # writing: one chunk's interactions, after dedupe against everything exported so far

    def _settle(self) -> None:
        pending, self._pending = self._pending, []
        fresh = self.scratch.first_seen([interaction.event_id for interaction, _ in pending])
        users: list[str] = []
        items: dict[str, list[tuple[Interaction, Mapping[str, Any]]]] = {}
        for (interaction, message), new in zip(pending, fresh, strict=True):
            if not new:
                self.summary.duplicates += 1
                continue
            item_id = interaction.item_id
            if item_id is None:
                bump(self.summary.dropped, NO_ITEM)
                continue
            row = self.columns.row_after_user(interaction, item_id)
            if interaction.user_id is not None:
                self.interactions.write([interaction.user_id, *row])
                users.append(interaction.user_id)
            elif self.links is not None:
                # normalize makes the session id the anonymousId when there is one: the link key.
                self.links.park(interaction.session_id, row)
            else:
                bump(self.summary.dropped, ANONYMOUS)
                continue
            if self.items.specs:
                items.setdefault(item_id, []).append((interaction, message))
        self.scratch.count_users(users)
        self.scratch.set_fields("items", self._item_rows(items))

    def _item_rows(self, items: dict[str, list[tuple[Interaction, Mapping[str, Any]]]]) -> list[_FieldRow]:
        """Each field's last value in the chunk ("last value wins", as across chunks), read from the latest
        occurrences back only until every field has one: usually one read per item, not per interaction."""
        rows: list[_FieldRow] = []
        wanted = len(self.items.specs)
        for item_id, seen in items.items():
            cells: dict[str, str] = {}
            for interaction, message in reversed(seen):
                found = self.items.read(item_source(message, interaction, self.event_map))
                cells = found | cells  # later values (already in cells) win
                if len(cells) == wanted:
                    break
            rows.append((item_id, "", None))  # the item exists, even without any field value
            rows.extend((item_id, column, text) for column, text in cells.items())
        return rows

    # the end: attribute parked anonymous rows, then write users, items and the schemas

    def finish(self) -> None:
        self.dead_letters.close()
        if self.dead_letters.written:
            self.summary.outputs["dead_letters"] = self.dead_letters.path
        summary = self.summary
        if self.links is not None:
            self._attribute(self.links)
            summary.link_conflicts = self.links.conflicts
        summary.interactions = self.interactions.rows
        summary.users, summary.active_users = self.scratch.user_totals(
            PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS
        )
        path = self.interactions.commit()
        summary.outputs["interactions"] = path
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
        self.summary.outputs[kind] = out.file.commit()
        write_schema(schema_path_for(path), kind, out.avro_fields(id_column))
        return out.file.rows

    def abort(self) -> None:
        # A failed export leaves nothing behind that could be mistaken for its output.
        self.dead_letters.discard()
        self.interactions.abort()
        self.scratch.close()
