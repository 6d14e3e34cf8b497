"""Attribute anonymous events to the user an identify call names (anonymousId -> userId), in one pass.

The stream cannot do this: an event is tracked when it arrives, and Personalize ties a session's anonymous
events to the user itself once a later event carries both ids. A bulk Interactions dataset has no such
step: every row needs a USER_ID, so an anonymous event must be given one here or be dropped.

Most anonymous events come *before* the identify that names their user (browse first, sign in later), so
a single streaming pass cannot attribute them as it goes. Two ways keep memory flat:

- two passes over the input: collect links first, write second. Reads (and decompresses) the whole
  archive twice.
- one pass with a spill (chosen): interactions of known users are written at once; anonymous ones are
  parked in the scratch file (one row each) and links recorded there too (one row per anonymous id,
  first link wins). When the input ends, one join attributes the parked rows. The archive is read once;
  the extra work is proportional to the anonymous events only, and it lives on disk.

A link comes from any call that carries both an ``anonymousId`` and a ``userId`` (identify, and every
later event of that session), or from ``alias`` (``previousId`` -> ``userId``). When one anonymous id is
linked to several users (a shared device), the first link in input order wins and the others are counted:
input order is received-day order for a Segment archive, so "first" means the earliest sign-in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from consumers.onboarding.export.scratch import Scratch
from schemas.limits import PERSONALIZE_ID_MAX_LENGTH

# Consecutive calls of one session repeat the same link: remembering the latest few thousand saves a
# database round trip for nearly all of them, at a bounded cost (the cache is dropped when full).
_CACHE_MAX: Final = 10_000
_FLUSH_EVERY: Final = 5_000


def identity_id(value: Any) -> str | None:
    """An id as normalize reads it (strings, whole or finite numbers), None when unusable for a link."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        text = str(value) if value.bit_length() <= 4 * PERSONALIZE_ID_MAX_LENGTH else ""
    elif isinstance(value, float) and math.isfinite(value):
        text = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    if not text or len(text) > PERSONALIZE_ID_MAX_LENGTH:
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the stream dead-letters such ids, so no link
            return None
    return text


def link_of(message: Mapping[str, Any]) -> tuple[str, str] | None:
    """(anonymous id, user id) when the message ties them together."""
    user_id = identity_id(message.get("userId"))
    if user_id is None:
        return None
    source = "previousId" if message.get("type") == "alias" else "anonymousId"
    anonymous_id = identity_id(message.get(source))
    if anonymous_id is None or anonymous_id == user_id:
        return None
    return anonymous_id, user_id


class IdentityLinks:
    """Links and parked anonymous rows, kept in the export's scratch file."""

    def __init__(self, scratch: Scratch) -> None:
        self._conn = scratch.conn
        self._cache: dict[str, str] = {}
        self._parked: list[tuple[str, str]] = []
        self.conflicts = 0  # calls that named another user for an already linked anonymous id
        self.parked = 0

    def observe(self, anonymous_id: str, user_id: str) -> None:
        """A call tied ``anonymous_id`` to ``user_id`` (``link_of``); the first such call wins."""
        link = (anonymous_id, user_id)
        known = self._cache.get(anonymous_id)
        if known is None:
            inserted = self._conn.execute(
                "INSERT OR IGNORE INTO links (anonymous_id, user_id) VALUES (?, ?)", link
            ).rowcount
            if inserted:
                known = user_id
            else:
                row = self._conn.execute(
                    "SELECT user_id FROM links WHERE anonymous_id = ?", (anonymous_id,)
                ).fetchone()
                known = str(row[0])
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[anonymous_id] = known
        if known != user_id:
            self.conflicts += 1

    def park(self, anonymous_id: str, row: Sequence[str]) -> None:
        """Keep an anonymous interaction's CSV row (without USER_ID) until the input ends."""
        self._parked.append((anonymous_id, json.dumps(list(row), ensure_ascii=False)))
        self.parked += 1
        if len(self._parked) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._parked:
            self._conn.executemany("INSERT INTO pending (anonymous_id, row) VALUES (?, ?)", self._parked)
            self._parked = []

    def resolve(self) -> Iterator[tuple[str | None, list[str]]]:
        """Every parked row with the user its anonymous id was linked to (None: never identified)."""
        self.flush()
        cursor = self._conn.execute(
            "SELECT links.user_id, pending.row FROM pending "
            "LEFT JOIN links ON links.anonymous_id = pending.anonymous_id ORDER BY pending.rowid"
        )
        for user_id, row in cursor:
            yield (None if user_id is None else str(user_id)), list(json.loads(row))
