"""Which Customer Profiles belong to which user, remembered for the life of a warm container.

SearchProfiles answers the same for a user from one batch to the next, so asking it before every
UpdateProfile doubles the calls per refreshed user. The cache keeps the answer instead: bounded (least
recently used users leave first, so a long-lived container's memory stays flat), and dropped for a user as
soon as an UpdateProfile answers that a cached profile no longer exists (deleted or merged away).

"This user has no profile" is remembered too, but only for ``absent_seconds``: another system (Segment's
Customer Profiles integration, an agent) may create the profile at any time, and pue should start writing to
it within minutes, not at the next cold start.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Final

# About 0.5 KB an entry (a user id of at most 256 characters, a 32-character profile id): ~5 MB at most, a
# small part of a Lambda's memory, and more distinct users than one Kinesis batch (10,000 records) can hold.
DEFAULT_MAX_USERS: Final = 10_000
DEFAULT_ABSENT_SECONDS: Final = 300.0


class ProfileIdCache:
    """Thread-safe bounded LRU map: user id -> the ids of the profiles its search key finds."""

    def __init__(
        self,
        max_users: int = DEFAULT_MAX_USERS,
        *,
        absent_seconds: float = DEFAULT_ABSENT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_users < 1:
            raise ValueError(f"max_users must be at least 1, got {max_users}")
        self._max_users = max_users
        self._absent_seconds = absent_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # user id -> (profile ids, time after which the entry is stale; None: never)
        self._entries: OrderedDict[str, tuple[tuple[str, ...], float | None]] = OrderedDict()

    def get(self, user_id: str) -> tuple[str, ...] | None:
        """The cached profile ids (empty: known to have none), or None when the user must be searched."""
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is None:
                return None
            profile_ids, stale_after = entry
            if stale_after is not None and self._clock() >= stale_after:
                del self._entries[user_id]
                return None
            self._entries.move_to_end(user_id)
            return profile_ids

    def put(self, user_id: str, profile_ids: Sequence[str]) -> None:
        stale_after = None if profile_ids else self._clock() + self._absent_seconds
        with self._lock:
            self._entries[user_id] = (tuple(profile_ids), stale_after)
            self._entries.move_to_end(user_id)
            while len(self._entries) > self._max_users:
                self._entries.popitem(last=False)

    def drop(self, user_id: str) -> None:
        with self._lock:
            self._entries.pop(user_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
