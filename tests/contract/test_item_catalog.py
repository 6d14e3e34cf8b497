"""ItemCatalog contract: the local store and a DynamoDB table (moto) answer alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from destinations.aws.item_catalog import DynamoItemCatalog
from destinations.local.store import LocalStore
from destinations.ports import ItemCatalog
from schemas.errors import RetryableError

ITEMS: dict[str, dict[str, object]] = {
    f"p{n}": {"NAME": f"Product {n}", "URL": f"https://shop.example/p{n}"} for n in range(150)
}


@pytest.fixture(params=["local", "dynamodb"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ItemCatalog]:
    if request.param == "local":
        with LocalStore(tmp_path / "pue.sqlite3") as store:
            store.upsert_items(ITEMS)
            yield store
        return
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        client.create_table(
            TableName="items",
            KeySchema=[{"AttributeName": "ITEM_ID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "ITEM_ID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for item_id, fields in ITEMS.items():
            item = {"ITEM_ID": {"S": item_id}, **{k: {"S": str(v)} for k, v in fields.items()}}
            client.put_item(TableName="items", Item=item)
        # NAME and URL are DynamoDB reserved words: the projection must still work.
        yield DynamoItemCatalog(client, "items", fields=["NAME", "URL"])


def test_known_items_come_back_in_request_order_and_unknown_ones_are_left_out(catalog: ItemCatalog) -> None:
    found = catalog.items(["p2", "nope", "p1", "p2"])
    assert list(found) == ["p2", "p1"]
    assert found["p1"] == {"NAME": "Product 1", "URL": "https://shop.example/p1"}


def test_more_ids_than_one_batch_holds(catalog: ItemCatalog) -> None:
    ids = [f"p{n}" for n in reversed(range(150))]
    assert list(catalog.items(ids)) == ids


def test_nothing_asked_nothing_found(catalog: ItemCatalog) -> None:
    assert catalog.items([]) == {}


class Unprocessed:
    """A client whose BatchGetItem always leaves the keys unprocessed."""

    def __init__(self) -> None:
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        return {"Responses": {"items": []}, "UnprocessedKeys": RequestItems}


def test_keys_left_unprocessed_are_asked_again_then_reported_retryable() -> None:
    client = Unprocessed()
    with pytest.raises(RetryableError) as caught:
        DynamoItemCatalog(client, "items", sleep=lambda _: None).items(["p1"])
    assert caught.value.code == "UnprocessedKeys" and client.calls == 4
