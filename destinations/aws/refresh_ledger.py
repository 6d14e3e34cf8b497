"""The cloud ``RefreshLedger``: a DynamoDB table (partition key ``user_id``, string) holding each user's
last refresh time, shared by every Lambda invocation; rows expire through the table's TTL attribute.

BatchGetItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
BatchWriteItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html

Best effort, as the port says: keys left unprocessed by a read count as "not refreshed" (so refreshed
again), items left unprocessed by a write are sent once more and then dropped (one refresh too many).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from destinations.aws.errors import translated
from schemas.limits import DYNAMODB_BATCH_GET_MAX_KEYS, DYNAMODB_BATCH_WRITE_MAX_ITEMS

SERVICE: Final = "dynamodb"
KEY: Final = "user_id"
REFRESHED_AT: Final = "refreshed_at"  # epoch seconds (N)
EXPIRES_AT: Final = "expires_at"  # the table's TTL attribute
WRITE_ATTEMPTS: Final = 2


class DynamoRefreshLedger:
    def __init__(self, client: Any, table: str, *, keep_seconds: int) -> None:
        """``keep_seconds``: how long a row matters (the refresh interval); TTL removes it after that."""
        self._client = client
        self._table = table
        self._keep_seconds = keep_seconds

    def refreshed_since(self, user_ids: Sequence[str], since: datetime) -> set[str]:
        unique = list(dict.fromkeys(user_ids))
        found: set[str] = set()
        for start in range(0, len(unique), DYNAMODB_BATCH_GET_MAX_KEYS):
            keys = [{KEY: {"S": user_id}} for user_id in unique[start : start + DYNAMODB_BATCH_GET_MAX_KEYS]]
            request = {"Keys": keys, "ProjectionExpression": f"{KEY}, {REFRESHED_AT}"}
            with translated(SERVICE):
                response = self._client.batch_get_item(RequestItems={self._table: request})
            for row in response.get("Responses", {}).get(self._table, []):
                if float(row[REFRESHED_AT]["N"]) >= since.timestamp():
                    found.add(row[KEY]["S"])
        return found

    def record(self, user_ids: Sequence[str], at: datetime) -> None:
        expires = str(int(at.timestamp()) + self._keep_seconds)
        items = [
            {
                "PutRequest": {
                    "Item": {
                        KEY: {"S": user_id},
                        REFRESHED_AT: {"N": repr(at.timestamp())},
                        EXPIRES_AT: {"N": expires},
                    }
                }
            }
            for user_id in dict.fromkeys(user_ids)
        ]
        for start in range(0, len(items), DYNAMODB_BATCH_WRITE_MAX_ITEMS):
            pending = items[start : start + DYNAMODB_BATCH_WRITE_MAX_ITEMS]
            for _ in range(WRITE_ATTEMPTS):
                with translated(SERVICE):
                    response = self._client.batch_write_item(RequestItems={self._table: pending})
                pending = response.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
