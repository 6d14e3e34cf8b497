"""Segment timestamps (ISO-8601 strings) to timezone-aware UTC datetimes.

Segment writes ``timestamp``, ``originalTimestamp``, ``sentAt`` and ``receivedAt`` as ISO-8601 with an
offset (``2015-12-12T19:11:01.249Z``, ``...+05:30``). Python 3.11's ``datetime.fromisoformat`` reads all of
these, including ``Z`` and any number of fraction digits (kept to the microsecond).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

# Longest sensible ISO-8601 timestamp is ~35 characters; anything much longer is not one, and refusing it
# early keeps parsing cost bounded for hostile input.
_MAX_TIMESTAMP_CHARS: Final = 64


def parse_timestamp(value: Any) -> datetime | None:
    """The instant ``value`` names, in UTC, or None when it is not an ISO-8601 date *and time*.

    A date alone (``2026-11-01``) is refused: it does not say when in the day the event happened.
    A timestamp without an offset is read as UTC, which is what Segment's own libraries send.
    """
    if not isinstance(value, str) or len(value) > _MAX_TIMESTAMP_CHARS:
        return None
    text = value.strip()
    if "T" not in text and " " not in text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        # Year 1 with a positive offset (or year 9999 with a negative one) has no UTC equivalent.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def first_timestamp(message: Mapping[str, Any], fields: Sequence[str]) -> datetime | None:
    """The first of ``fields`` in ``message`` that parses, or None."""
    for name in fields:
        parsed = parse_timestamp(message.get(name))
        if parsed is not None:
            return parsed
    return None
