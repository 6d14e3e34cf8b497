"""Data sets and leave-last-out splits for ``make eval`` (tests/benchmarks/evaluate.py).

A data set is a list of events (user, item, time, event type) in time order. The split, per user with at
least ``MIN_INTERACTIONS`` events: the target is the user's last *new* item (the last item whose first
event is the user's latest first-event), and every event at or after the target's first event is held out.
Validation does the same one step earlier (the second-to-last new item is the target, the last one is
gone too), so parameters are chosen on validation and reported on test, never tuned on the test split.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from tests.benchmarks import archive

MIN_INTERACTIONS: Final = 5
MOVIETWEETINGS: Final = Path(__file__).resolve().parents[3] / "shared/data/movietweetings-100k/ratings.dat"
RATED: Final = "Product Reviewed"  # a rating is an implicit interaction, never a purchase


@dataclass(frozen=True, slots=True)
class Event:
    user: str
    item: str
    ts: float
    event_type: str


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Event]  # time order
    targets: dict[str, str]  # user -> held-out item
    now: float  # the latest training event time: "today" for recent popularity


def movietweetings(path: Path = MOVIETWEETINGS) -> list[Event]:
    """MovieTweetings (``user::movie::rating::unix time``) as implicit events; movie ids stay strings."""
    events = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            user, movie, _, ts = line.strip().split("::")
            events.append(Event(f"mt{user}", f"tt{movie}", float(ts), RATED))
    return _in_time_order(events)


def synthetic(interactions: int = 100_000, items: int = 10_000, seed: int = 15) -> list[Event]:
    """The replay benchmark's archive generator (Zipf users and items, sessions, planted category
    affinity), at evaluation size."""
    events = []
    for message in archive.messages(interactions, items, seed):
        props = message["properties"]
        item = props["products"][0]["product_id"] if "products" in props else props["product_id"]
        ts = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).astimezone(UTC).timestamp()
        events.append(Event(message["userId"], item, ts, message["event"]))
    return _in_time_order(events)


def _in_time_order(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.ts)  # stable: equal times keep file order


def leave_last_out(events: Sequence[Event], steps_back: int = 0) -> Split:
    """Hold out each eligible user's last new item (``steps_back`` = 1: the one before, for validation)."""
    by_user: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        by_user.setdefault(event.user, []).append(index)
    cut: dict[str, int] = {}  # user -> index of the first held-out event
    targets: dict[str, str] = {}
    for user, indices in by_user.items():
        if len(indices) < MIN_INTERACTIONS:
            continue
        firsts = list(_first_events(events, indices))
        if len(firsts) < 2 + steps_back:
            continue  # needs something to learn from before the target
        target_index = firsts[-1 - steps_back]
        cut[user] = target_index
        targets[user] = events[target_index].item
    train = [e for i, e in enumerate(events) if i < cut.get(e.user, len(events))]
    return Split(train, targets, max(e.ts for e in train))


def _first_events(events: Sequence[Event], indices: Sequence[int]) -> Iterator[int]:
    """Indices of the user's first event with each item, in time order."""
    seen: set[str] = set()
    for index in indices:
        if events[index].item not in seen:
            seen.add(events[index].item)
            yield index


def train_by_user(train: Sequence[Event]) -> dict[str, list[Event]]:
    return {
        user: list(group)
        for user, group in itertools.groupby(sorted(train, key=lambda e: e.user), lambda e: e.user)
    }
