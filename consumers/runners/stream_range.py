"""Read one shard's records between two sequence numbers (both included): what a discarded batch names.

GetShardIterator AT_SEQUENCE_NUMBER at the start, then GetRecords until a record past the end, the shard's
end, or its tip. https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from destinations.aws.errors import translated
from schemas.limits import KINESIS_GET_RECORDS_PER_SHARD_PER_SECOND

SERVICE: Final = "kinesis"
PAUSE_SECONDS: Final = 1 / KINESIS_GET_RECORDS_PER_SHARD_PER_SECOND  # stay under the per-shard read rate


def read_range(
    client: Any,
    stream: str,
    shard_id: str,
    start: str,
    end: str,
    *,
    page_size: int = 500,
    pause: Callable[[float], None] = time.sleep,
) -> Iterator[list[Mapping[str, Any]]]:
    """Pages (GetRecords output records, at most ``page_size`` each) from ``start`` through ``end``.

    The first record may come after ``start`` when the stream no longer holds it (retention): the caller
    compares. Errors leave as ``PueError``.
    """
    with translated(SERVICE):
        iterator: str | None = client.get_shard_iterator(
            StreamName=stream,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=start,
        )["ShardIterator"]
    last = int(end)
    first_call = True
    while iterator:
        if not first_call:
            pause(PAUSE_SECONDS)
        first_call = False
        with translated(SERVICE):
            page = client.get_records(ShardIterator=iterator, Limit=page_size)
        records = page.get("Records") or []
        in_range = [r for r in records if int(r["SequenceNumber"]) <= last]
        if in_range:
            yield in_range
        if len(in_range) < len(records) or (in_range and int(in_range[-1]["SequenceNumber"]) == last):
            return
        if not records and page.get("MillisBehindLatest") == 0:
            return  # at the tip: the end of the range is not in the stream (any more, or yet)
        iterator = page.get("NextShardIterator")
