"""Hostile Kinesis input for reliability tests: broken records mixed with valid ones, each with its oracle.

Every generated record knows what pue must make of it. A record is one Kinesis record; it holds one *part*
(its payload) or, for a KPL aggregate, one part per sub-record. A part is either

- dead: it must reach the dead-letter sink with its original bytes and a reason starting with ``reason``;
- tracked: it must produce exactly ``events`` (event id and actor, i.e. userId or else anonymousId);
- filtered: a valid Segment message pue does not track (identify, an unmapped event...): no events.

The kinds (``hostile_kinds``): bad base64, bad UTF-8, a UTF-8 BOM, truncated and non-object JSON, wrong field
types, huge and deeply nested payloads, NaN/Infinity/huge numbers, unicode edge cases (lone surrogates escaped
in JSON, RTL, zero-width, emoji; NUL in an id is poison), missing and empty ids, over-limit fields, KPL
aggregates that are corrupt as a whole or carry one corrupt sub-record, duplicate keys and Segment's own
redeliveries.

    stream = HostileStream(seed=7)
    plan = build_plan(stream.records(1000), batch_size=500)
    for event in plan.events: handle_event(event, pipeline)
    plan.tracked  # {event id: Event}, plan.dead ({letter id: Part}), plan.filtered (count)

Message ids are unique per stream (``m0000001``...) and timestamps grow with them, one second apart, so a
stream's order is also every user's timestamp order.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from consumers.runners import lambda_events
from schemas.dead_letter import DeadLetter

if TYPE_CHECKING:
    from tests.support.hostile_kinds import Maker

DEFAULT_SHARD: Final = lambda_events.DEFAULT_SHARD
ASCII_USERS: Final = tuple(f"user-{n:02d}" for n in range(40))
# Ids Personalize takes as they are: pue must carry them through unchanged.
UNICODE_USERS: Final = (
    "ユーザー-1",  # CJK
    "مستخدم-2",  # right-to-left
    "\u202euser-3-rtl-override",
    "zero\u200bwidth\u200d-4",
    "emoji-🛒🧑‍💻-5",
    "e\u0301-combining-7",
    "ﬃ-ligature-8",
)
DEFAULT_USERS: Final = ASCII_USERS + UNICODE_USERS


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    actor: str  # userId, or anonymousId for an anonymous event
    user_id: str | None


@dataclass(frozen=True, slots=True)
class Part:
    """One user record and what pue must make of it."""

    kind: str
    raw: bytes  # what a dead letter must keep: the payload as it arrived (after base64, before anything)
    dead: bool = False
    reason: str = ""  # dead: how the dead-letter reason starts
    events: tuple[Event, ...] = ()  # tracked: the events it must produce, in order

    @property
    def filtered(self) -> bool:
        return not self.dead and not self.events


@dataclass(frozen=True, slots=True)
class HostileRecord:
    """One Kinesis record: ``data`` is ``kinesis.data`` as Lambda delivers it (normally base64)."""

    data: str
    partition_key: str
    parts: tuple[Part, ...]
    aggregate: bool = False  # a KPL aggregate pue can open: each part is a sub-record, dead-lettered alone

    @property
    def valid(self) -> bool:
        return not any(part.dead for part in self.parts)

    @property
    def kind(self) -> str:
        return "kpl[" + ",".join(p.kind for p in self.parts) + "]" if self.aggregate else self.parts[0].kind


def encoded(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


@dataclass(slots=True)
class Plan:
    """Lambda events for a list of records and the oracle: what must be tracked and dead-lettered."""

    events: list[dict[str, Any]] = field(default_factory=list)
    tracked: dict[str, Event] = field(default_factory=dict)  # event id -> event
    dead: dict[str, Part] = field(default_factory=dict)  # dead letter id -> part
    filtered: int = 0
    user_records: int = 0  # after KPL deaggregation: what the pipeline counts as records
    records: list[HostileRecord] = field(default_factory=list)

    @property
    def all_records(self) -> list[dict[str, Any]]:
        return [record for event in self.events for record in event["Records"]]

    def kinds(self) -> dict[str, int]:
        """How many records of each kind the plan holds (a KPL aggregate counts under its first part)."""
        counts: dict[str, int] = {}
        for record in self.records:
            name = f"kpl:{record.parts[0].kind}" if record.aggregate else record.parts[0].kind
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def event(self) -> dict[str, Any]:
        """Every record as one Lambda event (for the retry emulator, which batches by itself)."""
        return {"Records": self.all_records}


def build_plan(
    records: Sequence[HostileRecord],
    *,
    batch_size: int = 500,
    shard_id: str = DEFAULT_SHARD,
    first_sequence: int = 1,
) -> Plan:
    plan = Plan(records=list(records))
    batch: list[dict[str, Any]] = []
    for offset, record in enumerate(records):
        sequence = lambda_events.sequence_number(first_sequence + offset)
        lambda_record = lambda_events.lambda_record(
            b"", sequence=sequence, partition_key=record.partition_key, shard_id=shard_id
        )
        lambda_record["kinesis"]["data"] = record.data
        batch.append(lambda_record)
        for index, part in enumerate(record.parts):
            plan.user_records += 1
            if part.dead:
                sub = index if record.aggregate else None
                letter = DeadLetter(b"", "", shard_id, sequence, sub)
                plan.dead[letter.letter_id] = part
            elif part.events:
                for event in part.events:
                    plan.tracked.setdefault(event.event_id, event)
            else:
                plan.filtered += 1
        if len(batch) == batch_size:
            plan.events.append({"Records": batch})
            batch = []
    if batch:
        plan.events.append({"Records": batch})
    return plan


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    build: Callable[[Maker], HostileRecord]
    valid: bool
    weight: float
    needs_forwarded_property: bool = False


def all_kinds() -> dict[str, Kind]:
    """Every kind by name. Weights shape a realistic-looking mix: plain views dominate the valid ones."""
    from tests.support import hostile_kinds as v
    from tests.support import hostile_poison as p

    kinds = [
        Kind("viewed", v.viewed, True, 6),
        Kind("order", v.order, True, 2),
        Kind("anonymous", v.anonymous, True, 2),
        Kind("numeric_user", v.numeric_user, True, 1),
        Kind("unicode", v.unicode_ids, True, 2),
        Kind("huge", v.huge, True, 0.2),
        Kind("nested", v.nested, True, 0.5),
        Kind("reviewed", v.reviewed, True, 1),
        Kind("duplicate_keys", v.duplicate_keys, True, 0.3),
        Kind("redelivered", v.redelivered, True, 0.7),
        Kind("kpl_valid", v.kpl_valid, True, 1),
        Kind("wrong_property_types", v.wrong_property_types, True, 0.5),
        Kind("big_numbers", v.big_numbers, True, 0.3),
        Kind("identify", v.identify, True, 1.5),
        Kind("unmapped", v.unmapped, True, 1),
        Kind("no_item", v.no_item, True, 0.7),
        Kind("other_types", v.other_types, True, 0.7),
        Kind("bad_base64", p.bad_base64, False, 1),
        Kind("bad_utf8", p.bad_utf8, False, 1),
        Kind("bom", p.bom, False, 0.3),
        Kind("truncated", p.truncated, False, 1),
        Kind("non_object", p.non_object, False, 1),
        Kind("not_json_numbers", p.not_json_numbers, False, 1),
        Kind("big_int", p.big_int, False, 0.3),
        Kind("deep", p.deep, False, 0.2),
        Kind("empty", p.empty, False, 0.3),
        Kind("wrong_types", p.wrong_types, False, 2),
        Kind("missing_ids", p.missing_ids, False, 1),
        Kind("over_limit", p.over_limit, False, 1.5),
        Kind("lone_surrogate_ids", p.lone_surrogate_ids, False, 0.7),
        Kind("huge_poison", p.huge_poison, False, 0.1),
        Kind("forwarded_over_limit", p.forwarded_over_limit, False, 0.5, needs_forwarded_property=True),
        Kind("kpl_corrupt_sub", p.kpl_corrupt_sub, False, 1),
        Kind("kpl_bad_md5", p.kpl_bad_md5, False, 0.3),
        Kind("kpl_bad_protobuf", p.kpl_bad_protobuf, False, 0.2),
        Kind("kpl_truncated", p.kpl_truncated, False, 0.1),
        Kind("kpl_empty", p.kpl_empty, False, 0.1),
        Kind("kpl_bad_key_index", p.kpl_bad_key_index, False, 0.2),
    ]
    return {kind.name: kind for kind in kinds}


class HostileStream:
    """A seeded source of hostile records. ``valid_share`` of them are valid (tracked or filtered).

    ``forwarded_property`` names a property the event map forwards to Personalize (``property_whitelist``):
    set it to also generate records whose forwarded properties break Personalize's limits.
    ``kinds`` restricts the generated kinds (names from ``all_kinds()``).
    """

    def __init__(
        self,
        seed: int,
        *,
        users: Sequence[str] = DEFAULT_USERS,
        valid_share: float = 0.5,
        forwarded_property: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> None:
        from tests.support.hostile_kinds import Maker

        self.rng = random.Random(seed)  # noqa: S311 - test data, not crypto
        self.maker = Maker(self.rng, tuple(users), forwarded_property)
        known = all_kinds()
        unknown = set(kinds or ()) - set(known)
        if unknown:
            raise ValueError(f"unknown kinds: {sorted(unknown)}")
        chosen = {name: kind for name, kind in known.items() if kinds is None or name in kinds}
        if forwarded_property is None:
            chosen = {name: kind for name, kind in chosen.items() if not kind.needs_forwarded_property}
        self.valid = [kind for kind in chosen.values() if kind.valid]
        self.invalid = [kind for kind in chosen.values() if not kind.valid]
        if not self.valid and not self.invalid:
            raise ValueError("no kinds to generate")
        self.valid_share = valid_share if self.invalid else 1.0
        if not self.valid:
            self.valid_share = 0.0

    def records(self, count: int) -> list[HostileRecord]:
        out: list[HostileRecord] = []
        for _ in range(count):
            pool = self.valid if self.rng.random() < self.valid_share else self.invalid
            kind = self.rng.choices(pool, weights=[k.weight for k in pool])[0]
            out.append(kind.build(self.maker))
        return out
