"""The cloud ``RefreshLedger``: a DynamoDB table (partition key ``user_id``, string) holding each user's
last refresh time, shared by every Lambda invocation; rows expire through the table's TTL attribute.

An owed refresh is two more attributes on the user's row: ``due_at`` and ``due_shard``, the keys of the
sparse global secondary index ``DUE_INDEX`` (only owed rows are in it). The sweep queries each of its
``DUE_SHARDS`` partitions for ``due_at <= now``; spreading the marks over several partition keys keeps the
index's write rate per partition under DynamoDB's per-partition limit. ``record`` and ``settle`` set the
refresh time and remove the two attributes (the refresh settles what was owed) in a conditional UpdateItem:
never over a later refresh, and for a sweep only while the mark is the one it read (issue 21: a batch that
marked the user owed while the sweep computed its list must not lose that mark).

UpdateItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
Query: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html

BatchGetItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
Condition expressions: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html

Best effort, as the port says: keys left unprocessed by a read count as "not refreshed" (so refreshed
again).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from destinations.aws.errors import translated
from schemas.errors import PueError
from schemas.limits import DYNAMODB_BATCH_GET_MAX_KEYS
from schemas.refresh import OwedRefresh

SERVICE: Final = "dynamodb"
KEY: Final = "user_id"
REFRESHED_AT: Final = "refreshed_at"  # epoch seconds (N)
EXPIRES_AT: Final = "expires_at"  # the table's TTL attribute
# Conditional UpdateItems in flight at once per ``record`` (a batch's refreshed users): within the client's
# connection pool (destinations.aws.clients: 16 by default).
WRITERS: Final = 8
DUE_AT: Final = "due_at"  # epoch seconds (N): the sort key of DUE_INDEX
DUE_SHARD: Final = "due_shard"  # "0".."DUE_SHARDS-1" (S): the partition key of DUE_INDEX
DUE_INDEX: Final = "owed-refreshes"  # as deploy/template.yaml declares it
# A GSI partition takes ~1,000 writes/s; 16 keys cover 16k newly owed users/s, and a sweep costs 16 Queries.
DUE_SHARDS: Final = 16
# An owed row must outlive its due time by far more than a sweep's period (TTL deletes lazily anyway).
OWED_KEEP_SECONDS: Final = 86_400


class DynamoRefreshLedger:
    def __init__(self, client: Any, table: str, *, keep_seconds: int) -> None:
        """``keep_seconds``: how long a row matters (the refresh interval); TTL removes it after that."""
        self._client = client
        self._table = table
        self._keep_seconds = keep_seconds
        # Users the last read found owed already: ``owe`` right after it skips their conditional write
        # (an active user is postponed batch after batch). A stale entry costs nothing: a mark only goes
        # away with a refresh, which leaves nothing owed.
        self._owed_when_read: set[str] = set()

    def refreshed_since(self, user_ids: Sequence[str], since: datetime) -> set[str]:
        unique = list(dict.fromkeys(user_ids))
        found: set[str] = set()
        owed: set[str] = set()
        for start in range(0, len(unique), DYNAMODB_BATCH_GET_MAX_KEYS):
            keys = [{KEY: {"S": user_id}} for user_id in unique[start : start + DYNAMODB_BATCH_GET_MAX_KEYS]]
            request = {"Keys": keys, "ProjectionExpression": f"{KEY}, {REFRESHED_AT}, {DUE_AT}"}
            with translated(SERVICE):
                response = self._client.batch_get_item(RequestItems={self._table: request})
            for row in response.get("Responses", {}).get(self._table, []):
                if float(row[REFRESHED_AT]["N"]) >= since.timestamp():
                    found.add(row[KEY]["S"])
                if DUE_AT in row:
                    owed.add(row[KEY]["S"])
        self._owed_when_read = owed
        return found

    def record(self, user_ids: Sequence[str], at: datetime) -> None:
        self._write([(user_id, None) for user_id in dict.fromkeys(user_ids)], at)

    def settle(self, owed: Sequence[OwedRefresh], at: datetime) -> None:
        self._write([(o.user_id, o.mark or repr(o.due_at.timestamp())) for o in owed], at)

    def _write(self, rows: Sequence[tuple[str, str | None]], at: datetime) -> None:
        """One conditional UpdateItem per user (BatchWriteItem takes no condition), ``WRITERS`` at a time:
        ``refreshed_at`` = ``at`` and the owed mark removed, only if no later refresh is recorded and, for
        a sweep's clear (a mark given), the mark is still the one it read. A failed condition leaves the
        row alone: a later refresh, or a mark made since, is not this refresh's to overwrite."""
        if not rows:
            return
        with ThreadPoolExecutor(max_workers=min(WRITERS, len(rows))) as pool:
            list(pool.map(lambda row: self._write_one(row[0], row[1], at), rows))

    def _write_one(self, user_id: str, mark: str | None, at: datetime) -> None:
        condition = f"(attribute_not_exists({REFRESHED_AT}) OR {REFRESHED_AT} <= :at)"
        values = {
            ":at": {"N": repr(at.timestamp())},
            ":expires": {"N": str(int(at.timestamp()) + self._keep_seconds)},
        }
        if mark is not None:
            condition += f" AND {DUE_AT} = :mark"
            values[":mark"] = {"N": mark}
        update = f"SET {REFRESHED_AT} = :at, {EXPIRES_AT} = :expires REMOVE {DUE_AT}, {DUE_SHARD}"
        if not self._update_if(user_id, update, condition, values) and mark is not None:
            # A sweep's refresh whose mark changed meanwhile still happened: move ``refreshed_at`` forward
            # to it (never back), keeping the new mark and its expiry.
            self._update_if(
                user_id,
                f"SET {REFRESHED_AT} = :at",
                f"attribute_exists({REFRESHED_AT}) AND {REFRESHED_AT} < :at",
                {":at": values[":at"]},
            )

    def _update_if(self, user_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional UpdateItem of the user's row; False when the condition did not hold."""
        try:
            with translated(SERVICE):
                self._client.update_item(
                    TableName=self._table,
                    Key={KEY: {"S": user_id}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
        except PueError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def owe(self, user_ids: Sequence[str], interval: timedelta) -> None:
        for user_id in dict.fromkeys(user_ids):
            if user_id in self._owed_when_read:
                continue
            self._update_if(
                user_id,
                # Computed from the row itself, so a skip needs no read of the refresh time.
                f"SET {DUE_AT} = {REFRESHED_AT} + :interval, {DUE_SHARD} = :shard, "
                f"{EXPIRES_AT} = {REFRESHED_AT} + :keep",
                # Already owed: keep the first mark (one refresh for many skips).
                f"attribute_exists({REFRESHED_AT}) AND attribute_not_exists({DUE_AT})",
                {
                    ":interval": {"N": repr(interval.total_seconds())},
                    ":shard": {"S": str(zlib.crc32(user_id.encode()) % DUE_SHARDS)},
                    ":keep": {"N": str(int(interval.total_seconds()) + OWED_KEEP_SECONDS)},
                },
            )

    def due(self, now: datetime, limit: int) -> list[OwedRefresh]:
        owed: list[OwedRefresh] = []
        for shard in range(DUE_SHARDS):
            params: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": DUE_INDEX,
                "KeyConditionExpression": f"{DUE_SHARD} = :shard AND {DUE_AT} <= :now",
                "ExpressionAttributeValues": {
                    ":shard": {"S": str(shard)},
                    ":now": {"N": repr(now.timestamp())},
                },
            }
            while len(owed) < limit:
                with translated(SERVICE):
                    page = self._client.query(**params, Limit=limit - len(owed))
                owed.extend(
                    OwedRefresh(
                        row[KEY]["S"],
                        datetime.fromtimestamp(float(row[DUE_AT]["N"]), UTC),
                        mark=row[DUE_AT]["N"],  # verbatim: DynamoDB compares numbers exactly
                    )
                    for row in page.get("Items", [])
                )
                if "LastEvaluatedKey" not in page:
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(owed, key=lambda o: o.due_at)[:limit]
