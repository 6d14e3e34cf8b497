"""The message ledger in a DynamoDB table: a cloud ``MessageLedger`` (one row per user, conditional writes).

The table has a string partition key ``user_id``; each row holds the last message sent to that user
(``message_id``, ``sent_at`` in epoch seconds) and ``expires_at`` for an optional TTL. A claim is one
conditional PutItem, so concurrent Lambda invocations can never both send to the same user.
PutItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html
"""

from __future__ import annotations

from typing import Any, Final

from destinations.aws.errors import BOTO_ERRORS, error_code, translate_client_error

SERVICE: Final = "dynamodb"
_CONDITION_FAILED: Final = "ConditionalCheckFailedException"
# Rows outlive the quiet period by this much before a TTL may delete them, so a batch redelivered late (a
# stream keeps records for 24 h by default) is still recognized as already sent.
REDELIVERY_WINDOW_SECONDS: Final = 7 * 86_400
# Who may claim: nobody sent to this user yet, or the last message is older than the quiet period and is not
# this same message (a batch redelivered after the quiet period must still not send twice).
_CLAIM_CONDITION: Final = "attribute_not_exists(user_id) OR (sent_at < :cutoff AND message_id <> :mid)"


class DynamoMessageLedger:
    """At most one message per user per quiet period, decided by DynamoDB rather than by any one process.

    Claiming happens before sending (at most once): a crash between the claim and the send loses that
    message rather than risking a second one.
    """

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, user_id: str, message_id: str, now: float, quiet_seconds: int) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "user_id": {"S": user_id},
                    "message_id": {"S": message_id},
                    "sent_at": {"N": _number(now)},
                    "expires_at": {"N": str(int(now) + quiet_seconds + REDELIVERY_WINDOW_SECONDS)},
                },
                ConditionExpression=_CLAIM_CONDITION,
                ExpressionAttributeValues={
                    ":cutoff": {"N": _number(now - quiet_seconds)},
                    ":mid": {"S": message_id},
                },
            )
        except BOTO_ERRORS as error:
            if error_code(error) == _CONDITION_FAILED:
                return False
            raise translate_client_error(error, service=SERVICE) from error
        return True

    def release(self, user_id: str, message_id: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"user_id": {"S": user_id}},
                ConditionExpression="message_id = :mid",
                ExpressionAttributeValues={":mid": {"S": message_id}},
            )
        except BOTO_ERRORS as error:
            if error_code(error) == _CONDITION_FAILED:
                return  # another message holds the row now: nothing of ours to release
            raise translate_client_error(error, service=SERVICE) from error


def _number(value: float) -> str:
    return f"{value:.3f}"
