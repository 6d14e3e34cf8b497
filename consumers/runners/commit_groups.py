"""A backfill's batches in commit groups: many Lambda batches, one store commit (``LocalStore.commit_group``).

A commit writes every page its transaction dirtied to the WAL, and at a million interactions one batch
dirties most of the model's pages: committing once per group of batches instead of once per batch writes
each of those pages once per group (docs/recommender.md, "Commit groups"). Every batch is still tracked in
its own savepoint, so a batch that fails is undone alone; a crash loses the open group's batches together,
and replaying the same input again is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

T = TypeVar("T")


def in_commit_groups(
    batches: Iterable[T],
    group: Callable[[], AbstractContextManager[object]],
    per_group: int,
    held: AbstractContextManager[object] | None = None,
) -> Generator[T, None, None]:
    """Yield ``batches``; each run of ``per_group`` of them is handled inside one ``group()``. ``held`` is
    entered before the first group and left after the last (the backfill lock: live_inbox.py).

    Close the generator (``contextlib.closing``) rather than leave it to the garbage collector: a group
    ends, and commits, when the generator does.
    """
    if per_group < 1:
        raise ValueError(f"per_group must be at least 1, got {per_group}")
    remaining = iter(batches)
    with held or nullcontext():
        while True:
            with group():
                for handled, batch in enumerate(remaining, start=1):
                    yield batch
                    if handled == per_group:
                        break
                else:
                    return
