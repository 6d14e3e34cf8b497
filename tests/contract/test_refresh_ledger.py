"""The RefreshLedger contract, on the local store and on DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from destinations.aws.refresh_ledger import DUE_AT, DUE_INDEX, DUE_SHARD, EXPIRES_AT, DynamoRefreshLedger
from destinations.local import LocalStore
from destinations.local.refresh_ledger import LocalRefreshLedger
from destinations.ports import RefreshLedger
from schemas.refresh import OwedRefresh
from tests.support.moto_clients import moto_client

TABLE = "pue-refreshes"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@contextmanager
def dynamodb_table() -> Iterator[Any]:
    """moto's DynamoDB with the ledger table as deploy/template.yaml declares it."""
    with moto_client("dynamodb") as client:
        create_ledger_table(client)
        yield client


def create_ledger_table(client: Any, name: str = TABLE) -> None:
    """The refresh ledger's table as deploy/template.yaml declares it (the owed-refreshes index too)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": DUE_SHARD, "AttributeType": "S"},
            {"AttributeName": DUE_AT, "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": DUE_INDEX,
                "KeySchema": [
                    {"AttributeName": DUE_SHARD, "KeyType": "HASH"},
                    {"AttributeName": DUE_AT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


@pytest.fixture(params=["local", "dynamodb"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RefreshLedger]:
    if request.param == "local":
        store = LocalStore(tmp_path / "pue.sqlite3")
        yield LocalRefreshLedger(store)
        store.close()
        return
    with dynamodb_table() as client:
        yield DynamoRefreshLedger(client, TABLE, keep_seconds=300)


def test_nobody_was_refreshed_at_first(ledger: RefreshLedger) -> None:
    assert ledger.refreshed_since(["u1", "u2"], T0 - timedelta(days=1)) == set()


def test_a_recorded_refresh_counts_from_its_time_on(ledger: RefreshLedger) -> None:
    ledger.record(["u1", "u2"], T0)
    assert ledger.refreshed_since(["u1", "u2", "u3"], T0 - timedelta(seconds=60)) == {"u1", "u2"}
    assert ledger.refreshed_since(["u1"], T0) == {"u1"}  # at or after
    assert ledger.refreshed_since(["u1", "u2"], T0 + timedelta(seconds=1)) == set()


def test_a_later_refresh_moves_the_time_forward(ledger: RefreshLedger) -> None:
    ledger.record(["u1"], T0)
    ledger.record(["u1"], T0 + timedelta(minutes=10))
    assert ledger.refreshed_since(["u1"], T0 + timedelta(minutes=5)) == {"u1"}


def test_many_users_and_repeats_in_one_call(ledger: RefreshLedger) -> None:
    users = [f"user-{n:04d}" for n in range(260)]  # more than one BatchGetItem (100) and BatchWriteItem (25)
    ledger.record(users + users[:10], T0)
    assert ledger.refreshed_since(users + ["other"], T0) == set(users)


def test_dynamodb_rows_expire_through_the_tables_ttl() -> None:
    with dynamodb_table() as client:
        DynamoRefreshLedger(client, TABLE, keep_seconds=300).record(["u1"], T0)
        item = client.get_item(TableName=TABLE, Key={"user_id": {"S": "u1"}})["Item"]
        assert int(item[EXPIRES_AT]["N"]) == int(T0.timestamp()) + 300


def test_an_owed_refresh_is_due_at_the_last_refresh_plus_the_interval(ledger: RefreshLedger) -> None:
    ledger.record(["u1", "u2"], T0)
    ledger.owe(["u1"], timedelta(seconds=60))
    assert ledger.due(T0 + timedelta(seconds=59), 10) == []
    assert ledger.due(T0 + timedelta(seconds=60), 10) == [OwedRefresh("u1", T0 + timedelta(seconds=60))]


def test_many_skips_of_one_user_keep_one_mark_the_first(ledger: RefreshLedger) -> None:
    ledger.record(["u1"], T0)
    ledger.owe(["u1", "u1"], timedelta(seconds=60))
    ledger.owe(["u1"], timedelta(seconds=600))
    assert ledger.due(T0 + timedelta(days=1), 10) == [OwedRefresh("u1", T0 + timedelta(seconds=60))]


def test_a_user_never_refreshed_is_owed_nothing(ledger: RefreshLedger) -> None:
    ledger.owe(["ghost"], timedelta(seconds=60))
    assert ledger.due(T0 + timedelta(days=1), 10) == []


def test_a_refresh_settles_what_was_owed_and_refreshes_keep_working(ledger: RefreshLedger) -> None:
    ledger.record(["u1", "u2"], T0)
    ledger.owe(["u1", "u2"], timedelta(seconds=60))
    ledger.record(["u1"], T0 + timedelta(seconds=70))
    assert [o.user_id for o in ledger.due(T0 + timedelta(seconds=80), 10)] == ["u2"]
    assert ledger.refreshed_since(["u1", "u2"], T0 + timedelta(seconds=65)) == {"u1"}


def test_due_returns_at_most_the_limit_across_many_users(ledger: RefreshLedger) -> None:
    users = [f"user-{n:03d}" for n in range(40)]  # spread over every DynamoDB index shard
    ledger.record(users, T0)
    ledger.owe(users, timedelta(seconds=60))
    now = T0 + timedelta(seconds=61)
    assert len(ledger.due(now, 7)) == 7
    assert sorted(o.user_id for o in ledger.due(now, 100)) == users


def test_dynamodb_writes_no_mark_for_a_user_the_read_found_owed_already() -> None:
    with dynamodb_table() as client:
        calls: list[str] = []

        class Counting:
            def __getattr__(self, name: str) -> Any:
                calls.append(name)
                return getattr(client, name)

        ledger = DynamoRefreshLedger(Counting(), TABLE, keep_seconds=300)
        ledger.record(["u1", "u2"], T0)
        calls.clear()  # the refreshes' own writes are UpdateItems too
        for _ in range(3):  # three postponed batches of the same users
            assert ledger.refreshed_since(["u1", "u2"], T0) == {"u1", "u2"}
            ledger.owe(["u1", "u2"], timedelta(seconds=60))
        assert calls.count("update_item") == 2  # the first batch's marks only
        assert len(ledger.due(T0 + timedelta(seconds=60), 10)) == 2
