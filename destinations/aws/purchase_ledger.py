"""The cloud ``PurchaseLedger``: a DynamoDB table (partition key ``user_id``, string) holding, per user, the
set of items the stream's own purchase events named (``purchase: true`` in the event map).

Written with one UpdateItem per user and batch (``ADD items :bought``: a set union, so a redelivered record
changes nothing), read with BatchGetItem for every user a batch refreshes.
UpdateItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
BatchGetItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from destinations.aws.errors import translated
from schemas.delivery import DeliveryReport
from schemas.errors import PueError, RetryableError
from schemas.limits import DYNAMODB_BATCH_GET_MAX_KEYS

SERVICE: Final = "dynamodb"
KEY: Final = "user_id"
ITEMS: Final = "items"  # a string set (SS)
# BatchGetItem may leave keys unprocessed under load; ask again this many times before failing the users.
READ_ATTEMPTS: Final = 3


class DynamoPurchaseLedger:
    """Implements ``ports.PurchaseLedger``. Thread-safe: boto3 clients are."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, purchases: Mapping[str, frozenset[str]]) -> DeliveryReport:
        failed: dict[str, PueError] = {}
        for user_id, items in purchases.items():
            if not items:
                continue
            try:
                with translated(SERVICE):
                    self._client.update_item(
                        TableName=self._table,
                        Key={KEY: {"S": user_id}},
                        UpdateExpression="ADD #items :bought",
                        ExpressionAttributeNames={"#items": ITEMS},
                        ExpressionAttributeValues={":bought": {"SS": sorted(items)}},
                    )
            except PueError as error:
                failed[user_id] = error
        return DeliveryReport(failed)

    def purchased(self, user_ids: Sequence[str]) -> dict[str, frozenset[str]]:
        unique = list(dict.fromkeys(user_ids))
        found: dict[str, frozenset[str]] = {}
        for start in range(0, len(unique), DYNAMODB_BATCH_GET_MAX_KEYS):
            keys: list[dict[str, Any]] = [
                {KEY: {"S": user_id}} for user_id in unique[start : start + DYNAMODB_BATCH_GET_MAX_KEYS]
            ]
            for _ in range(READ_ATTEMPTS):
                request = {"Keys": keys, "ProjectionExpression": "#key, #items"}
                request["ExpressionAttributeNames"] = {"#key": KEY, "#items": ITEMS}  # type: ignore[assignment]
                with translated(SERVICE):
                    response = self._client.batch_get_item(RequestItems={self._table: request})
                for row in response.get("Responses", {}).get(self._table, []):
                    found[row[KEY]["S"]] = frozenset(row.get(ITEMS, {}).get("SS", ()))
                keys = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not keys:
                    break
            if keys:
                raise RetryableError(
                    "BatchGetItem left keys unprocessed", service=SERVICE, code="Unprocessed"
                )
        return found
