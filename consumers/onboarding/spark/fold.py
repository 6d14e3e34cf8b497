"""What the Spark executors run: the per-file and per-row steps, as plain functions over plain data.

Every line goes through ``entries.line_entries``, the code the single-process export runs; these functions
only give each entry its key and its place in input order (``order_of``: file index, line number, entry
index), so the driver's joins and aggregations apply the single-process rules ("first event id wins",
"first link wins", "last field value wins") whatever order the tasks ran in.

Records travel in bundles: a task's records of one kind, pickled together, a bundle per ``BUNDLE_RECORDS``.
The driver derives several datasets from one cached pass over the archive, and a filter on the kind then
unpickles only the bundles of that kind, not every record of every kind (which cost more CPU than the
decoding itself). Repeats inside a task are combined before they leave it (a session's events repeat its
identity link; a field's later value replaces the earlier), as ``reduceByKey`` would after a shuffle.

Counts travel as data: each task ends its output with a ``Tally`` bundle, and the driver adds the tallies
it collects. A task Spark retries recomputes its whole output, and only one attempt's output is ever
read, so nothing is counted twice. (Spark accumulators updated inside transformations are counted again
for every re-executed attempt, which is why pue uses none; see docs/onboarding.md.)
"""

from __future__ import annotations

import functools
import pickle
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
from consumers.onboarding.export.fields import NOTHING, FieldRead, FieldValues
from consumers.onboarding.export.reader import file_lines
from consumers.onboarding.export.summary import ExportSummary, bump
from consumers.onboarding.export.writer import dead_letter_line
from consumers.onboarding.spark.storage import Storage

Bundle = tuple[str, bytes]  # (kind, pickled list of (key, value) pairs)
Read = tuple[dict[str, str], dict[str, str], int] | None  # a FieldRead as plain data; None: nothing
# (order, user id, anonymous id, item id, cells, metadata read, item read, occurrences)
RowValue = tuple[int, str | None, str, str | None, tuple[str, ...], Read, Read, int]

ROW: Final = "r"  # event id -> RowValue
LINK: Final = "l"  # (anonymous id, user id) -> (earliest order, calls)
TRAIT: Final = "t"  # (user id, column) -> (order, text)
DEAD: Final = "d"  # order -> dead_letters.jsonl line
TALLY: Final = "s"  # None -> Tally
WRITE: Final = "w"  # order -> (user id, cells)
PARK: Final = "p"  # anonymous id -> (order, cells)
ITEM: Final = "i"  # (item id, column) -> (order, text); column "" records only that the item exists
# Records per bundle (and per in-task combining table): bounds a task's memory whatever its file's size.
BUNDLE_RECORDS: Final = 20_000


def order_of(index: int, line: int, position: int) -> int:
    """Input order as one integer: (file index, line number, entry index in the line), compared as such
    (a line's entries: fewer than 2**16, since a Segment message is at most 32 KB)."""
    return ((index << 48) | line) << 16 | position


def unbundle(bundle: Bundle) -> list[tuple[Any, Any]]:
    return list(pickle.loads(bundle[1]))  # noqa: S301 - bundles are this job's own, task to task


class _Bundler:
    """Collects one task's records by kind; ``add`` returns a full bundle when one is due."""

    def __init__(self) -> None:
        self._lists: dict[str, list[tuple[Any, Any]]] = {}

    def add(self, kind: str, key: Any, value: Any) -> Bundle | None:
        items = self._lists.setdefault(kind, [])
        items.append((key, value))
        if len(items) < BUNDLE_RECORDS:
            return None
        del self._lists[kind]
        return kind, pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)

    def extend(self, kind: str, pairs: Iterable[tuple[Any, Any]]) -> Iterator[Bundle]:
        for key, value in pairs:
            full = self.add(kind, key, value)
            if full:
                yield full

    def flush(self) -> Iterator[Bundle]:
        for kind, items in self._lists.items():
            yield kind, pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
        self._lists = {}


def _read(found: FieldRead) -> Read:
    return (found.cells, found.kinds, found.too_long) if found is not NOTHING else None


def field_read(read: Read) -> FieldRead:
    return NOTHING if read is None else FieldRead(*read)


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


def file_records(task: tuple[int, str], plan: ExportPlan, storage: Storage) -> Iterator[Bundle]:
    """One archive file (``task``: its index in the listing and its location) -> bundles of records."""
    index, source = task
    columns = plan.columns()
    tally = Tally()
    out = _Bundler()
    links: dict[tuple[str, str], tuple[int, int]] = {}  # first in this file, and how many
    traits: dict[tuple[str, str], tuple[int, str]] = {}  # last in this file
    for line in file_lines(source, functools.partial(storage.open, source)):
        for position, entry in enumerate(line_entries(line, plan, columns)):
            order = order_of(index, line.number, position)
            full = None
            if isinstance(entry, Row):
                value = (order, entry.user_id, entry.anonymous_id, entry.item_id, entry.cells)
                full = out.add(ROW, entry.event_id, (*value, _read(entry.metadata), _read(entry.item), 1))
            elif isinstance(entry, Counted):
                tally.counts.count_message(entry.filtered, entry.clamped)
            elif isinstance(entry, Link):
                key = (entry.anonymous_id, entry.user_id)
                seen = links.get(key)
                links[key] = (order, 1) if seen is None else (seen[0], seen[1] + 1)
            elif isinstance(entry, Traits):
                tally.users.observe(entry.read)
                for column, text in entry.read.cells.items():
                    traits[(entry.user_id, column)] = (order, text)
            else:
                tally.counts.count_dead_letter(entry.reason)
                full = out.add(DEAD, order, dead_letter_line(line.path, line.number, entry.reason, line.data))
            if full:
                yield full
            if len(links) >= BUNDLE_RECORDS or len(traits) >= BUNDLE_RECORDS:
                yield from _drain(out, links, traits)
    yield from _drain(out, links, traits)
    out.add(TALLY, None, tally)
    yield from out.flush()


def _drain(out: _Bundler, links: dict[Any, Any], traits: dict[Any, Any]) -> Iterator[Bundle]:
    yield from out.extend(LINK, links.items())
    yield from out.extend(TRAIT, traits.items())
    links.clear()
    traits.clear()


def first_occurrence(a: RowValue, b: RowValue) -> RowValue:
    """reduceByKey on event id: the earliest occurrence in input order, and how many there were."""
    first = a if a[0] <= b[0] else b
    return (*first[:7], a[7] + b[7])


def earliest_and_count(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return min(a[0], b[0]), a[1] + b[1]


def latest(a: tuple[int, str], b: tuple[int, str]) -> tuple[int, str]:
    """reduceByKey on (id, column): the last value in input order wins, as in the single-process export."""
    return a if a[0] >= b[0] else b


# Links: (anonymous id, user id) pairs are first reduced to (earliest order, calls); then per anonymous id
# the earliest pair names the user and every call naming another user is a conflict.
LinkPick = tuple[int, str, int, int]  # (earliest order, its user, calls naming that user, all calls)


def link_pick(pair: tuple[tuple[str, str], tuple[int, int]]) -> tuple[str, LinkPick]:
    (anonymous_id, user_id), (order, calls) = pair
    return anonymous_id, (order, user_id, calls, calls)


def first_link(a: LinkPick, b: LinkPick) -> LinkPick:
    first = a if a[0] <= b[0] else b
    return first[0], first[1], first[2], a[3] + b[3]


def classify(
    kept: Iterable[tuple[str, RowValue]], plan: ExportPlan, no_item: str, anonymous: str
) -> Iterator[Bundle]:
    """The first occurrence of each event id -> a row to write, a row to park, or a drop (counted); its
    item's field values. The single-process ``_settle`` makes the same choices in the same order."""
    tally = Tally(metadata=FieldValues(plan.metadata), items=FieldValues(plan.items))
    out = _Bundler()
    items: dict[tuple[str, str], tuple[int, str]] = {}  # the last value of each item's field, so far
    for _, (order, user_id, anonymous_id, item_id, cells, metadata, item, occurrences) in kept:
        tally.counts.duplicates += occurrences - 1
        if item_id is None:
            bump(tally.counts.dropped, no_item)
            continue
        tally.metadata.observe(field_read(metadata))
        if user_id is not None:
            full = out.add(WRITE, order, (user_id, cells))
        elif plan.link_identities:
            full = out.add(PARK, anonymous_id, (order, cells))
        else:
            bump(tally.counts.dropped, anonymous)
            continue
        if full:
            yield full
        if plan.items:
            found = field_read(item)
            tally.items.observe(found)
            for column, text in (("", ""), *found.cells.items()):
                key = (item_id, column)
                if key not in items or items[key][0] < order:
                    items[key] = (order, text)
            if len(items) >= BUNDLE_RECORDS:
                yield from out.extend(ITEM, items.items())
                items.clear()
    yield from out.extend(ITEM, items.items())
    out.add(TALLY, None, tally)
    yield from out.flush()


def field_rows(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(column, text) pairs of one id -> its cells (the "" column only marks that the id exists)."""
    return {column: text for column, text in pairs if column}
