"""One line of history -> the facts an export keeps of it: the per-record code both engines run.

``line_entries`` is everything an export does with a line *alone*: the stream's decoder and ``normalize``,
the identity link a call carries, an identify's traits, each interaction's CSV cells (all but USER_ID)
and its item's properties. What needs more than one line (dedupe by event id, attributing anonymous rows
to the user a link names, last value per field, per-user counts) is the engines' job: the single-process
export does it with its scratch file, the Spark export with joins and aggregations. Both fold the same
entries by the same rules, so they write the same datasets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from consumers.onboarding.export.avro import REQUIRED_FIELDS, RESERVED_FIELDS
from consumers.onboarding.export.fields import NOTHING, FieldRead, FieldSpec, field_specs, read_fields
from consumers.onboarding.export.identity import identity_id, link_of
from consumers.onboarding.export.messages import decode_line, item_source, normalize_guarded
from consumers.onboarding.export.reader import Line
from consumers.onboarding.export.writer import InteractionColumns
from consumers.stream.decode import Decoded
from consumers.stream.event_map import EventMap, camel_case
from schemas.limits import (
    PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS,
    PERSONALIZE_ITEMS_MAX_METADATA_FIELDS,
    PERSONALIZE_USERS_MAX_METADATA_FIELDS,
)
from schemas.outcome import Filtered, Tracked

DEFAULT_ITEM_FIELDS: Final = ("category", "price")
_INTERACTION_NAMES: Final = (*REQUIRED_FIELDS["interactions"], *RESERVED_FIELDS["interactions"])


@dataclass(frozen=True, slots=True)
class ExportOptions:
    event_map: EventMap
    link_identities: bool = True
    event_value: bool = False
    metadata: tuple[str, ...] = ()  # Segment property names, added to the event map's whitelist
    user_fields: tuple[str, ...] = ()  # identify trait names (dotted paths allowed)
    item_fields: tuple[str, ...] = DEFAULT_ITEM_FIELDS  # product property names
    scratch_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """The options, validated and resolved once (on the driver, for Spark; it is pickled to executors)."""

    event_map: EventMap  # with --metadata added to its property_whitelist
    link_identities: bool
    event_value: bool
    metadata: tuple[FieldSpec, ...]  # paths are the camelCase keys of the interaction's properties
    users: tuple[FieldSpec, ...]
    items: tuple[FieldSpec, ...]

    @classmethod
    def of(cls, options: ExportOptions) -> ExportPlan:
        """``ConfigError`` naming every unusable field name."""
        # The stream forwards the event map's whitelisted properties to PutEvents as event properties;
        # export makes a metadata column of each, plus any --metadata names (added to the whitelist).
        whitelist = tuple(dict.fromkeys((*options.event_map.property_whitelist, *options.metadata)))
        metadata = field_specs(
            whitelist,
            option="--metadata (with the event map's property_whitelist)",
            taken=_INTERACTION_NAMES,
            most=PERSONALIZE_INTERACTIONS_MAX_METADATA_FIELDS,
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
        return cls(
            event_map=replace(options.event_map, property_whitelist=whitelist),
            link_identities=options.link_identities,
            event_value=options.event_value,
            metadata=tuple(FieldSpec(camel_case(spec.path), spec.column) for spec in metadata),
            users=users,
            items=items,
        )

    def columns(self) -> InteractionColumns:
        return InteractionColumns(event_value=self.event_value, metadata=self.metadata)


# The entries of a line, in the order they arise. Plain frozen dataclasses: Spark pickles them.


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str


@dataclass(frozen=True, slots=True)
class Counted:
    """A message that decoded: tracked (its interactions follow as ``Row``s) or filtered, by reason."""

    filtered: str | None  # the filter reason; None when tracked
    clamped: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    anonymous_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Traits:
    user_id: str
    read: FieldRead


@dataclass(frozen=True, slots=True)
class Row:
    """One interaction: the dedupe key, who (user, or the anonymous id to link), and what to write."""

    event_id: str
    user_id: str | None
    anonymous_id: str  # normalize's session id: the anonymousId when there is one
    item_id: str | None
    cells: tuple[str, ...]  # every CSV cell but USER_ID; empty when there is no item id
    metadata: FieldRead
    item: FieldRead


Entry = DeadLetter | Counted | Link | Traits | Row


def line_entries(line: Line, plan: ExportPlan, columns: InteractionColumns) -> Iterator[Entry]:
    """Every fact of one line: a dead letter (``line.fault``, undecodable, poison), or per message a
    ``Counted``, then its ``Link`` and ``Traits`` when it carries them, then its ``Row``s."""
    if line.data is None:
        yield DeadLetter(line.fault or "unreadable line")
        return
    for entry in decode_line(line.data):
        if isinstance(entry, Decoded):
            yield from _message(entry.message, plan, columns)
        else:
            yield DeadLetter(entry.reason)


def _message(message: dict[str, Any], plan: ExportPlan, columns: InteractionColumns) -> Iterator[Entry]:
    outcome = normalize_guarded(message, plan.event_map)
    if isinstance(outcome, Tracked):
        yield Counted(None, outcome.time_clamped)
    elif isinstance(outcome, Filtered):
        yield Counted(outcome.reason)
    else:
        yield DeadLetter(outcome.reason)
    if plan.link_identities:
        link = link_of(message)
        if link is not None:
            yield Link(*link)
    if plan.users and message.get("type") == "identify":
        user_id = identity_id(message.get("userId"))
        traits = message.get("traits")
        if user_id is not None and isinstance(traits, dict):
            yield Traits(user_id, read_fields(plan.users, traits))
    if not isinstance(outcome, Tracked):
        return
    for interaction in outcome.interactions:
        item_id = interaction.item_id
        cells: tuple[str, ...] = ()
        metadata = item = NOTHING
        if item_id is not None:
            row, metadata = columns.row_after_user(interaction, item_id)
            cells = tuple(row)
            if plan.items:
                item = read_fields(plan.items, item_source(message, interaction, plan.event_map))
        yield Row(
            interaction.event_id, interaction.user_id, interaction.session_id, item_id, cells, metadata, item
        )
