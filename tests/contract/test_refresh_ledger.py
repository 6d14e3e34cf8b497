"""The RefreshLedger contract, on the local store and on DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from destinations.aws.refresh_ledger import EXPIRES_AT, DynamoRefreshLedger
from destinations.local import LocalStore
from destinations.local.refresh_ledger import LocalRefreshLedger
from destinations.ports import RefreshLedger
from tests.support.moto_clients import moto_client

TABLE = "pue-refreshes"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@contextmanager
def dynamodb_table() -> Iterator[Any]:
    """moto's DynamoDB with the ledger table as deploy/template.yaml declares it."""
    with moto_client("dynamodb") as client:
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        )
        yield client


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
