"""What the Spark executors run: the per-file and per-row steps, as plain functions over plain data.

Every line goes through ``entries.line_entries``, the code the single-process export runs; these functions
only give each entry its key and its place in input order, ``(file index, line number, entry index)``, so
the driver's joins and aggregations can apply the single-process rules ("first event id wins", "first link
wins", "last field value wins") whatever order the tasks ran in.

Counts travel as data: each task ends its output with a ``Tally`` record, and the driver adds the tallies
it collects. A task Spark retries recomputes its whole output, and only one attempt's output is ever
read, so nothing is counted twice. (Spark accumulators updated inside transformations are counted again
for every re-executed attempt, which is why pue uses none; see docs/onboarding.md.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from consumers.onboarding.export.entries import (
    Counted,
    ExportPlan,
    Link,
    Row,
    Traits,
    line_entries,
)
from consumers.onboarding.export.fields import FieldValues
from consumers.onboarding.export.reader import file_lines
from consumers.onboarding.export.summary import ExportSummary, bump
from consumers.onboarding.export.writer import dead_letter_line
from consumers.onboarding.spark.storage import Storage

Order = tuple[int, int, int]  # (file index, line number, entry index within the line): input order
Record = tuple[str, Any, Any]  # (kind, key, value); kinds below

ROW: Final = "r"  # event id -> (order, Row, 1)
LINK: Final = "l"  # (anonymous id, user id) -> (order, 1)
TRAIT: Final = "t"  # (user id, column) -> (order, text)
DEAD: Final = "d"  # order -> dead_letters.jsonl line
TALLY: Final = "s"  # None -> Tally
WRITE: Final = "w"  # order -> (user id, cells)
PARK: Final = "p"  # anonymous id -> (order, cells)
ITEM: Final = "i"  # (item id, column) -> (order, text); column "" records only that the item exists


@dataclass(slots=True)
class Tally:
    """What one task counted: messages and interactions by bucket and reason (an ``ExportSummary``'s
    counts) and the field reads it kept; ``merge`` adds another's. The driver adds them all up."""

    counts: ExportSummary = field(default_factory=ExportSummary)
    users: FieldValues = field(default_factory=lambda: FieldValues(()))
    metadata: FieldValues = field(default_factory=lambda: FieldValues(()))
    items: FieldValues = field(default_factory=lambda: FieldValues(()))

    def merge(self, other: Tally) -> Tally:
        self.counts.add(other.counts)
        self.users.merge(other.users)
        self.metadata.merge(other.metadata)
        self.items.merge(other.items)
        return self


def file_records(task: tuple[int, str], plan: ExportPlan, storage: Storage) -> Iterator[Record]:
    """One archive file (``task``: its index in the listing and its location) -> keyed records."""
    index, source = task
    columns = plan.columns()
    tally = Tally()
    for line in file_lines(source, functools.partial(storage.open, source)):
        for position, entry in enumerate(line_entries(line, plan, columns)):
            order = (index, line.number, position)
            if isinstance(entry, Row):
                yield ROW, entry.event_id, (order, entry, 1)
            elif isinstance(entry, Counted):
                tally.counts.count_message(entry.filtered, entry.clamped)
            elif isinstance(entry, Link):
                yield LINK, (entry.anonymous_id, entry.user_id), (order, 1)
            elif isinstance(entry, Traits):
                tally.users.observe(entry.read)
                for column, text in entry.read.cells.items():
                    yield TRAIT, (entry.user_id, column), (order, text)
            else:
                tally.counts.count_dead_letter(entry.reason)
                yield DEAD, order, dead_letter_line(line.path, line.number, entry.reason, line.data)
    yield TALLY, None, tally


def first_occurrence(a: tuple[Order, Row, int], b: tuple[Order, Row, int]) -> tuple[Order, Row, int]:
    """reduceByKey on event id: the earliest occurrence in input order, and how many there were."""
    first = a if a[0] <= b[0] else b
    return first[0], first[1], a[2] + b[2]


def earliest_and_count(a: tuple[Order, int], b: tuple[Order, int]) -> tuple[Order, int]:
    return min(a[0], b[0]), a[1] + b[1]


def latest(a: tuple[Order, str], b: tuple[Order, str]) -> tuple[Order, str]:
    """reduceByKey on (id, column): the last value in input order wins, as in the single-process export."""
    return a if a[0] >= b[0] else b


# Links: (anonymous id, user id) pairs are first reduced to (earliest order, calls); then per anonymous id
# the earliest pair names the user and every call naming another user is a conflict.
LinkPick = tuple[Order, str, int, int]  # (earliest order, its user, calls naming that user, all calls)


def link_pick(pair: tuple[tuple[str, str], tuple[Order, int]]) -> tuple[str, LinkPick]:
    (anonymous_id, user_id), (order, calls) = pair
    return anonymous_id, (order, user_id, calls, calls)


def first_link(a: LinkPick, b: LinkPick) -> LinkPick:
    first = a if a[0] <= b[0] else b
    return first[0], first[1], first[2], a[3] + b[3]


def classify(
    kept: Iterable[tuple[str, tuple[Order, Row, int]]], plan: ExportPlan, no_item: str, anonymous: str
) -> Iterator[Record]:
    """The first occurrence of each event id -> a row to write, a row to park, or a drop (counted); its
    item's field values. The single-process ``_settle`` makes the same choices in the same order."""
    tally = Tally(metadata=FieldValues(plan.metadata), items=FieldValues(plan.items))
    for _, (order, row, occurrences) in kept:
        tally.counts.duplicates += occurrences - 1
        item_id = row.item_id
        if item_id is None:
            bump(tally.counts.dropped, no_item)
            continue
        tally.metadata.observe(row.metadata)
        if row.user_id is not None:
            yield WRITE, order, (row.user_id, row.cells)
        elif plan.link_identities:
            yield PARK, row.anonymous_id, (order, row.cells)
        else:
            bump(tally.counts.dropped, anonymous)
            continue
        if plan.items:
            tally.items.observe(row.item)
            yield ITEM, (item_id, ""), (order, "")
            for column, text in row.item.cells.items():
                yield ITEM, (item_id, column), (order, text)
    yield TALLY, None, tally


def field_rows(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(column, text) pairs of one id -> its cells (the "" column only marks that the id exists)."""
    return {column: text for column, text in pairs if column}
