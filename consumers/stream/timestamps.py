"""Segment timestamps (ISO-8601 strings) to timezone-aware UTC datetimes.

Segment writes ``timestamp``, ``originalTimestamp``, ``sentAt`` and ``receivedAt`` as ISO-8601 with an
offset (``2015-12-12T19:11:01.249Z``, ``...+05:30``). Python 3.11's ``datetime.fromisoformat`` reads all of
these, including ``Z`` and any number of fraction digits (kept to the microsecond).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

# Longest sensible ISO-8601 timestamp is ~35 characters; anything much longer is not one, and refusing it
# early keeps parsing cost bounded for hostile input.
_MAX_TIMESTAMP_CHARS: Final = 64

# How far past its receipt an event time may lie before it is clamped. Segment's own ``timestamp`` is already
# corrected for the device's clock (receivedAt - (sentAt - originalTimestamp), never after receivedAt:
# https://segment.com/docs/connections/spec/common/#timestamps), but server libraries and the HTTP API let a
# caller set it to anything, and write keys are public. What remains legitimate is the drift between two
# NTP-synced servers (Segment's or a backend's, and ours), far under five minutes: five minutes is the
# tolerance Kerberos uses for the same question (MIT krb5.conf ``clockskew``, default 300 s). A future time
# inside it buys an item e^(ln 2 * 300 s / 7 days) - 1 = 0.03 % of popularity in the local model.
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
# Personalize takes event times as Unix epoch time (interactions dataset TIMESTAMP, PutEvents sentAt); a
# time before the epoch is not one. Old times are otherwise kept: they cannot rig anything (popularity
# decays with age), and real history is old: MovieLens 100k is from 1997-98, Personalize's own sample
# interactions (881250949) too.
EARLIEST_EVENT_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)


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
    """The first of ``fields`` in ``message`` that parses to a time since the Unix epoch, or None."""
    for name in fields:
        parsed = parse_timestamp(message.get(name))
        if parsed is not None and parsed >= EARLIEST_EVENT_TIME:
            return parsed
    return None


@dataclass(frozen=True, slots=True)
class EventTime:
    at: datetime
    clamped: bool  # the message's time lay beyond its receipt plus MAX_CLOCK_SKEW and was set to the receipt


def bounded_event_time(event_time: datetime, message: Mapping[str, Any], now: datetime) -> EventTime:
    """``event_time``, or the message's receipt time when ``event_time`` is later than that plus
    ``MAX_CLOCK_SKEW``. The receipt time is ``receivedAt`` (set by Segment's servers), else ``now``; a
    ``receivedAt`` later than ``now`` is itself not believed, so no field of a message can lift its time
    past the clock of the process reading it."""
    received = parse_timestamp(message.get("receivedAt"))
    receipt = now if received is None or received > now else received
    if event_time > receipt + MAX_CLOCK_SKEW:
        return EventTime(receipt, clamped=True)
    return EventTime(event_time, clamped=False)
