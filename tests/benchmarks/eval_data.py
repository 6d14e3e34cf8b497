"""Data sets and leave-last-out splits for ``make eval`` (tests/benchmarks/evaluate.py).

A data set is a list of events (user, item, time, event type) in time order. The split, per user with at
least ``MIN_INTERACTIONS`` events: the target is the user's last *new* item (the last item whose first
event is the user's latest first-event), and every event at or after the target's first event is held out.
Validation does the same one step earlier (the second-to-last new item is the target, the last one is
gone too), so parameters are chosen on validation and reported on test, never tuned on the test split.

The anonymous-session protocol (``anonymous``) is built on a split: each evaluated user's last
``SESSION_EVENTS`` training events are sent under an anonymousId only (``Event.anonymous``; the user's
earlier events stay under the userId), and the target is predicted for that anonymousId, as a shop asks
for a visitor who has not logged in. Evaluated users may be subsampled (``subsample``: a fixed seed).
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from tests.benchmarks import archive

MIN_INTERACTIONS: Final = 5


def _shared_data() -> Path:
    """``PUE_SHARED_DATA``, else the nearest ``shared/data`` above this file (../shared/data of the main
    checkout, ../../shared/data of a worktree under /work/wt)."""
    if os.environ.get("PUE_SHARED_DATA"):
        return Path(os.environ["PUE_SHARED_DATA"])
    here = Path(__file__).resolve()
    found = (parent / "shared/data" for parent in here.parents if (parent / "shared/data").is_dir())
    return next(found, here.parents[3] / "shared/data")


SHARED_DATA: Final = _shared_data()
MOVIETWEETINGS: Final = SHARED_DATA / "movietweetings-100k/ratings.dat"
GROCERY: Final = SHARED_DATA / "amazon-grocery-5core/train.csv"
RATED: Final = "Product Reviewed"  # a rating is an implicit interaction, never a purchase
PURCHASED: Final = "Order Completed"  # the grocery set's README: treat each review as a purchase
SESSION_EVENTS: Final = 3  # the anonymous protocol's visit: the last few clicks, as in a click session
ANONYMOUS_PREFIX: Final = "anon-"


@dataclass(frozen=True, slots=True)
class Event:
    user: str
    item: str
    ts: float
    event_type: str
    anonymous: bool = False  # ``user`` is an anonymousId: the event carries no userId


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


def grocery(path: Path = GROCERY) -> list[Event]:
    """Amazon Grocery 5-core (``user_id\titem_id\ttime``, a header, time order) as purchases; rows that
    share a day keep file order."""
    events = []
    with path.open(encoding="utf-8") as lines:
        next(lines)
        for line in lines:
            user, item, ts = line.split("\t")
            events.append(Event(f"g{user}", f"p{item}", float(ts), PURCHASED))
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


def subsample(split: Split, users: int | None, seed: int = 22) -> Split:
    """At most ``users`` evaluated users, drawn with a fixed seed (training data unchanged)."""
    if users is None or len(split.targets) <= users:
        return split
    chosen = sorted(random.Random(seed).sample(sorted(split.targets), users))
    return Split(split.train, {user: split.targets[user] for user in chosen}, split.now)


def anonymous(split: Split, session_events: int = SESSION_EVENTS) -> Split:
    """The split with each evaluated user's last ``session_events`` training events re-sent under an
    anonymousId only; the targets are keyed by that anonymousId."""
    last: dict[str, list[int]] = {}
    for index, event in enumerate(split.train):
        if event.user in split.targets:
            kept = last.setdefault(event.user, [])
            kept.append(index)
            del kept[:-session_events]
    moved = {index for indices in last.values() for index in indices}
    train = [
        replace(e, user=ANONYMOUS_PREFIX + e.user, anonymous=True) if i in moved else e
        for i, e in enumerate(split.train)
    ]
    targets = {ANONYMOUS_PREFIX + user: item for user, item in split.targets.items() if user in last}
    return Split(train, targets, split.now)
