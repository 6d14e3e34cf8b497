"""Intake: Lambda Kinesis records -> one ``Entry`` per user record (decode, then normalize).

Pure functions of the records, the event map and the clock: one record at a time, so one bad record never
fails the batch, and a record is never judged by its neighbours (except a KPL aggregate full of bad
sub-records, collapsed into one letter by ``consumers.stream.aggregate_guard``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from consumers.stream.accounting import Entry
from consumers.stream.aggregate_guard import collapse_bad_sub_records
from consumers.stream.decode import Decoded, Undecodable, decode_record
from consumers.stream.event_map import EventMap
from consumers.stream.normalize import normalize
from schemas.outcome import Normalized, Poison

log = logging.getLogger("pue.pipeline")


def normalize_message(message: Mapping[str, Any], event_map: EventMap, now: datetime) -> Normalized:
    """``normalize``, and a ``Poison`` naming the error if it ever raises (a bug must not block a shard)."""
    try:
        return normalize(message, event_map, now)
    except Exception as exc:  # keep the bytes, say why
        log.exception("normalize failed unexpectedly")
        return Poison(f"internal error while normalizing: {type(exc).__name__}")


def decode_all(records: Sequence[Mapping[str, Any]], event_map: EventMap, now: datetime) -> list[Entry]:
    """Every user record of ``records`` (KPL sub-records in order), decoded and normalized."""
    entries: list[Entry] = []
    for record in records:
        mine = _normalized(decode_record(record), event_map, now)
        entries.extend(collapse_bad_sub_records(record, mine) if len(mine) > 1 else mine)
    return entries


def payload_entries(
    decoded: list[Decoded | Undecodable], payload: bytes, event_map: EventMap, now: datetime
) -> list[Entry]:
    """``decode_all`` for one record whose data is already out of base64 (``decode_payload(ref, payload)``
    gave ``decoded``): what a Lambda record carrying ``payload`` would give."""
    mine = _normalized(decoded, event_map, now)
    return collapse_bad_sub_records(payload, mine) if len(mine) > 1 else mine


def _normalized(decoded: list[Decoded | Undecodable], event_map: EventMap, now: datetime) -> list[Entry]:
    return [
        Entry(item.ref, item.raw, normalize_message(item.message, event_map, now))
        if isinstance(item, Decoded)
        else Entry(item.ref, item.raw, Poison(item.reason))
        for item in decoded
    ]
