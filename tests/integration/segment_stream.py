"""Writing to a Kinesis stream the way Segment's Kinesis destination does."""

from __future__ import annotations

import json
from typing import Any

# PutRecords takes at most 500 records per call.
# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
PUT_RECORDS_MAX_RECORDS = 500


def put_like_segment(kinesis: Any, stream: str, messages: list[dict[str, Any]]) -> None:
    """One record per message, partitioned by userId, else anonymousId (so a user's events stay in order)."""
    for start in range(0, len(messages), PUT_RECORDS_MAX_RECORDS):
        chunk = messages[start : start + PUT_RECORDS_MAX_RECORDS]
        response = kinesis.put_records(
            StreamName=stream,
            Records=[
                {"Data": json.dumps(m).encode(), "PartitionKey": str(m.get("userId") or m["anonymousId"])}
                for m in chunk
            ],
        )
        assert response["FailedRecordCount"] == 0
