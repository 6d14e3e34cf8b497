"""One KPL aggregate full of bad sub-records becomes one dead letter, not one per sub-record.

A KPL aggregate holds up to 1 MiB of sub-records: 120,000 tiny bad ones would otherwise make 120,000 dead
letters (12,000 SQS SendMessageBatch calls) for what is one broken producer. Past
``MAX_BAD_SUB_RECORDS`` dead sub-records, the aggregate's dead ones are replaced by a single letter that
keeps the whole aggregate (its raw bytes, after base64) and says how many of its sub-records were bad. Its
good sub-records are tracked as usual: redriving the letter tracks them again, harmlessly (event ids).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from consumers.stream.accounting import Entry, dead_reason
from schemas.outcome import Poison

# Ten SQS SendMessageBatch calls' worth of letters: more than any one bad deploy of a few event types makes
# in one aggregate, far fewer than a producer writing garbage does.
MAX_BAD_SUB_RECORDS: Final = 100
TOO_MANY_BAD_SUB_RECORDS: Final = f"KPL aggregate with over {MAX_BAD_SUB_RECORDS} bad sub-records"

log = logging.getLogger("pue.pipeline")


def collapse_bad_sub_records(record: Mapping[str, Any] | bytes, entries: list[Entry]) -> list[Entry]:
    """``entries`` (one record's), or the good ones plus one letter for the whole aggregate. ``record``:
    the Lambda Kinesis record, or its data already out of base64."""
    dead = [entry for entry in entries if entry.ref.sub_sequence_number is not None and dead_reason(entry)]
    if len(dead) <= MAX_BAD_SUB_RECORDS:
        return entries
    kept = [
        entry for entry in entries if not (entry.ref.sub_sequence_number is not None and dead_reason(entry))
    ]
    ref = replace(dead[0].ref, sub_sequence_number=None, partition_key=None)
    # The count is in the letter's reason; the counted key stays one fixed string.
    letter = Entry(
        ref,
        _payload(record),
        Poison(f"{TOO_MANY_BAD_SUB_RECORDS}: {len(dead):,} of {len(entries):,} sub-records bad"),
        rejection_key=TOO_MANY_BAD_SUB_RECORDS,
    )
    log.warning(
        "KPL aggregate dead-lettered whole",
        extra={"fields": {"bad_sub_records": len(dead), "sub_records": len(entries), "shard": ref.shard_id}},
    )
    return [*kept, letter]


def _dead_sub_record(entry: Entry) -> bool:
    return entry.ref.sub_sequence_number is not None and dead_reason(entry) is not None


def _payload(record: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(record, bytes):
        return record
    # decode_record opened it already, so this cannot fail; re-reading it spares every record a copy.
    try:
        return base64.b64decode(record["kinesis"]["data"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return b""
