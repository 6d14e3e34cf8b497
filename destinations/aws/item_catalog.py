"""The item catalog in a DynamoDB table: a cloud ``ItemCatalog`` read with BatchGetItem.

One item per row, keyed by the item id (a string partition key, ``ITEM_ID`` unless configured), the other
attributes being the catalog fields (``NAME``, ``PRICE``, ``URL``, ``IMAGE_URL``...), as a Personalize items
dataset would load them.
BatchGetItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from destinations.aws.errors import translated
from schemas.errors import RetryableError
from schemas.limits import DYNAMODB_BATCH_GET_MAX_KEYS

SERVICE: Final = "dynamodb"
DEFAULT_KEY: Final = "ITEM_ID"
# BatchGetItem may answer part of a request (UnprocessedKeys) under load; ask again a few times, backing off.
UNPROCESSED_ATTEMPTS: Final = 4
UNPROCESSED_BACKOFF_SECONDS: Final = 0.05


class DynamoItemCatalog:
    """Reads items by id, at most 100 keys per BatchGetItem, unknown ids left out.

    ``fields`` limits what is read (a projection) to the catalog fields the templates use.
    Keys still unprocessed after the retries make the whole call a ``RetryableError``: a partial answer would
    be indistinguishable from items that do not exist.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        key: str = DEFAULT_KEY,
        fields: Sequence[str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        self._key = key
        self._sleep = sleep
        self._projection: dict[str, Any] = {}
        if fields:
            names = [key, *(f for f in dict.fromkeys(fields) if f != key)]
            # Placeholders: catalog field names may be DynamoDB reserved words (NAME, URL are).
            self._projection = {
                "ProjectionExpression": ", ".join(f"#f{n}" for n in range(len(names))),
                "ExpressionAttributeNames": {f"#f{n}": name for n, name in enumerate(names)},
            }

    def items(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        ids = [item_id for item_id in dict.fromkeys(item_ids) if item_id]
        found: dict[str, dict[str, object]] = {}
        for start in range(0, len(ids), DYNAMODB_BATCH_GET_MAX_KEYS):
            for row in self._batch(ids[start : start + DYNAMODB_BATCH_GET_MAX_KEYS]):
                item_id = row.pop(self._key, None)
                if isinstance(item_id, str):
                    found[item_id] = row
        return {item_id: found[item_id] for item_id in ids if item_id in found}

    def _batch(self, ids: Sequence[str]) -> list[dict[str, object]]:
        from boto3.dynamodb.types import TypeDeserializer

        deserialize = TypeDeserializer().deserialize
        keys: list[dict[str, Any]] = [{self._key: {"S": item_id}} for item_id in ids]
        rows: list[dict[str, object]] = []
        for attempt in range(UNPROCESSED_ATTEMPTS):
            with translated(SERVICE):
                response = self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, **self._projection}}
                )
            for raw in response.get("Responses", {}).get(self._table, []):
                rows.append({name: deserialize(value) for name, value in raw.items()})
            keys = response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
            if not keys:
                return rows
            self._sleep(UNPROCESSED_BACKOFF_SECONDS * 2**attempt)
        raise RetryableError(
            f"BatchGetItem left {len(keys)} key(s) unprocessed after {UNPROCESSED_ATTEMPTS} attempts",
            service=SERVICE,
            code="UnprocessedKeys",
        )
