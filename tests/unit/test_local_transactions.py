"""The local store's transactions: units, savepoints and commit groups (a backfill's one commit per group)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from consumers.runners.commit_groups import in_commit_groups
from destinations.local.store import LocalStore
from destinations.local.transactions import GroupLost


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "pue.sqlite3") as opened:
        opened.ensure_schema("CREATE TABLE IF NOT EXISTS t (n INTEGER NOT NULL)")
        yield opened


def committed(store: LocalStore) -> list[int]:
    """What another connection (another process: the API, a refresh worker) sees."""
    with closing(sqlite3.connect(store.path)) as other:
        return [int(row[0]) for row in other.execute("SELECT n FROM t ORDER BY n")]


def add(store: LocalStore, *values: int) -> None:
    with store.transaction() as conn:
        conn.executemany("INSERT INTO t (n) VALUES (?)", [(v,) for v in values])


def test_a_group_commits_its_units_once_at_its_end(store: LocalStore) -> None:
    with store.commit_group():
        add(store, 1)
        add(store, 2)
        assert committed(store) == []  # nothing reached the WAL yet
        with store.transaction(write=False) as conn:  # this connection sees its own group
            assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2
    assert committed(store) == [1, 2]


def test_a_failed_unit_in_a_group_is_undone_alone(store: LocalStore) -> None:
    with store.commit_group():
        add(store, 1)
        with pytest.raises(ZeroDivisionError), store.transaction() as conn:
            conn.execute("INSERT INTO t (n) VALUES (2)")
            _ = 1 / 0
        add(store, 3)
    assert committed(store) == [1, 3]


def test_a_failed_nested_unit_in_a_group_is_undone_alone(store: LocalStore) -> None:
    """A batch (outer unit) with a failed PutEvents call (nested unit) keeps the rest of the batch."""
    with store.commit_group(), store.transaction():
        add(store, 1)
        with pytest.raises(ZeroDivisionError), store.transaction() as conn:
            conn.execute("INSERT INTO t (n) VALUES (2)")
            _ = 1 / 0
        add(store, 3)
    assert committed(store) == [1, 3]


def test_a_group_ended_by_an_error_keeps_the_units_that_completed(store: LocalStore) -> None:
    """A truncated archive or Ctrl-C between batches: the batches reported done are kept."""
    with pytest.raises(KeyboardInterrupt), store.commit_group():
        add(store, 1)
        raise KeyboardInterrupt
    assert committed(store) == [1]
    add(store, 2)  # and the store is usable again, outside any group
    assert committed(store) == [1, 2]


def test_a_group_sqlite_rolled_back_is_reported_lost_not_half_kept(store: LocalStore) -> None:
    """SQLite ends the whole transaction on some errors (a full disk): no later unit may run outside the
    group as if nothing happened, and the group's end says its batches are gone."""
    with pytest.raises(GroupLost, match="replay the input again"), store.commit_group():
        add(store, 1)
        with pytest.raises(sqlite3.OperationalError), store.transaction() as conn:
            conn.execute("INSERT INTO t (n) VALUES (2)")
            conn.execute("ROLLBACK")  # what SQLite itself does on SQLITE_FULL, and then the statement fails:
            conn.execute("SELECT * FROM no_such_table")
        with pytest.raises(GroupLost):
            add(store, 3)
    assert committed(store) == []
    add(store, 4)
    assert committed(store) == [4]


def test_other_threads_units_join_the_group_without_waiting_for_it(store: LocalStore) -> None:
    """The pipeline's pool threads use the store while the main thread's group is open: no deadlock."""
    with ThreadPoolExecutor(max_workers=2) as pool, store.commit_group():
        add(store, 1)
        list(pool.map(lambda n: add(store, n), [2, 3]))
        assert committed(store) == []
    assert committed(store) == [1, 2, 3]


def test_a_group_cannot_start_inside_a_transaction_or_a_group(store: LocalStore) -> None:
    with store.transaction(), pytest.raises(RuntimeError, match="inside a transaction"):
        store.commit_group().__enter__()
    with store.commit_group(), pytest.raises(RuntimeError, match="another group"):
        store.commit_group().__enter__()
    add(store, 1)
    assert committed(store) == [1]


class RecordingGroup:
    """Records the order of group starts, group ends and batches handed out, as they happen."""

    def __init__(self) -> None:
        self.log: list[str] = []

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.log.append("begin")
        try:
            yield
        finally:
            self.log.append("commit")


def test_batches_are_handed_out_per_group_of_the_given_size() -> None:
    group = RecordingGroup()
    for batch in in_commit_groups(range(7), group, per_group=3):
        group.log.append(str(batch))
    assert group.log == [
        *("begin", "0", "1", "2", "commit"),
        *("begin", "3", "4", "5", "commit"),
        *("begin", "6", "commit"),
    ]


def test_closing_the_batches_early_ends_the_open_group() -> None:
    group = RecordingGroup()
    with closing(in_commit_groups(range(7), group, per_group=5)) as batches:
        for batch in batches:
            group.log.append(str(batch))
            if batch == 1:
                break
        assert group.log[-1] == "1"  # still open while the caller holds it
    assert group.log == ["begin", "0", "1", "commit"]


def test_a_group_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(in_commit_groups(range(3), RecordingGroup(), per_group=0))
