"""Group tracked interactions into PutEvents calls: per (user, session), arrival order, at most 10 each.

Personalize takes one userId and sessionId per PutEvents call, so this is the fewest calls a batch allows:
the sum over (user, session) of ceil(events / 10).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.errors import PermanentError
from schemas.interaction import EventBatch, Interaction
from schemas.limits import PUT_EVENTS_MAX_EVENTS
from schemas.recommendation import Recommendation


@dataclass(frozen=True, slots=True)
class Chunk:
    """One PutEvents call; ``owners[i]`` is the input entry (by index) that interaction ``i`` came from."""

    batch: EventBatch
    owners: tuple[int, ...]

    @property
    def entries(self) -> frozenset[int]:
        return frozenset(self.owners)

    def split_by_entry(self) -> list[Chunk]:
        """One chunk per input entry, order kept: isolates the record a service rejected."""
        parts: dict[int, list[Interaction]] = {}
        for owner, interaction in zip(self.owners, self.batch.interactions, strict=True):
            parts.setdefault(owner, []).append(interaction)
        return [
            Chunk(EventBatch(self.batch.session_id, self.batch.user_id, tuple(items)), (owner,) * len(items))
            for owner, items in parts.items()
        ]


@dataclass(slots=True)
class UserWork:
    """Everything one user (or one anonymous session) needs done, in order."""

    key: str
    user_id: str | None
    # An anonymous visitor's Segment anonymousId (its events' session id) when ``user_id`` is None: the id
    # its list is asked for and written under (PUE_REFRESH_ANONYMOUS).
    anonymous_id: str | None = None
    chunks: list[Chunk] = field(default_factory=list)
    entries: set[int] = field(default_factory=set)
    last_event_id: str = ""
    last_entry: int = -1


@dataclass(slots=True)
class UserOutcome:
    """What became of one ``UserWork``: events tracked, the refreshed list, or why not."""

    work: UserWork
    recommendation: Recommendation | None = None
    tracked: int = 0
    failure: str | None = None
    deployment_fault: bool = False  # the failure is a ConfigError: the operator must act
    refresh_rejected: bool = False
    list_short: bool = False  # fewer items than asked: purchases past the numResults cap (filled_list)
    rejected: list[tuple[frozenset[int], PermanentError]] = field(default_factory=list)


def group_by_user(tracked: Iterable[tuple[int, Interaction]]) -> list[UserWork]:
    """``tracked`` is (entry index, interaction) in arrival order; returns work per user, first seen first.

    Repeated event ids are dropped: the first occurrence carries the event for both records.
    """
    # Per (user, session): the entries and the interactions, in two lists (a tuple per event, taken apart
    # again below, cost a fifth of the grouping on a visitor-heavy archive).
    sessions: dict[tuple[str | None, str], tuple[list[int], list[Interaction]]] = {}
    seen: dict[str, tuple[str | None, str]] = {}  # event id -> (user, session) that tracks it
    repeats: list[tuple[tuple[str | None, str], int]] = []
    for entry, interaction in tracked:
        # A message delivered twice in one batch (Segment or producer retries) is tracked once; the
        # repeat's record still belongs to the user, so it shares the user's fate (retry or done).
        event_id = interaction.event_id
        if event_id in seen:
            repeats.append((seen[event_id], entry))
            continue
        session = seen[event_id] = (interaction.user_id, interaction.session_id)
        group = sessions.get(session)
        if group is None:
            group = sessions[session] = ([], [])
        group[0].append(entry)
        group[1].append(interaction)

    works: dict[str, UserWork] = {}
    for (user_id, session_id), (entries, interactions) in sessions.items():
        key = _key(user_id, session_id)
        work = works.get(key)
        if work is None:
            anonymous_id = session_id if user_id is None else None
            work = works[key] = UserWork(key=key, user_id=user_id, anonymous_id=anonymous_id)
        for start in range(0, len(entries), PUT_EVENTS_MAX_EVENTS):
            end = start + PUT_EVENTS_MAX_EVENTS
            batch = EventBatch(session_id, user_id, tuple(interactions[start:end]))
            work.chunks.append(Chunk(batch, tuple(entries[start:end])))
        work.entries.update(entries)
        if entries[-1] >= work.last_entry:
            work.last_entry, work.last_event_id = entries[-1], interactions[-1].event_id
    for (user_id, session_id), entry in repeats:
        works[_key(user_id, session_id)].entries.add(entry)
    return list(works.values())


def _key(user_id: str | None, session_id: str) -> str:
    return f"user:{user_id}" if user_id is not None else f"session:{session_id}"
