"""Segment's Kinesis destination → a real Kinesis API on 127.0.0.1 → the Lambda handler, locally."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from consumers.bootstrap.stream import build_pipeline
from consumers.config.settings import Settings
from consumers.runners.lambda_events import from_get_records
from consumers.runners.sample_data import clickstream
from consumers.stream.lambda_batch import handle_event
from tests.integration.segment_stream import put_like_segment


def read_all(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    events = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=200)
            if not page["Records"]:
                break
            events.append(
                from_get_records(page["Records"], shard_id=shard["ShardId"], stream_arn=summary["StreamARN"])
            )
            iterator = page.get("NextShardIterator")
    return events


def test_segment_messages_through_kinesis_reach_the_local_store(kinesis: Any, tmp_path: Path) -> None:
    stream = f"segment-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    messages = clickstream(users=20, seed=3)
    put_like_segment(kinesis, stream, messages)

    settings = Settings.from_env({"PUE_STATE_DIR": str(tmp_path)})
    pipeline, wiring = build_pipeline(settings)
    try:
        totals = {"records": 0, "processed": 0, "filtered": 0, "dead_lettered": 0, "failed": 0}
        for event in read_all(kinesis, stream):
            response, result = handle_event(event, pipeline)
            assert response == {"batchItemFailures": []}
            assert result is not None
            for key in totals:
                totals[key] += result.counts.summary()[key]
    finally:
        pipeline.close()

    assert totals["records"] == len(messages)
    non_tracked = sum(1 for m in messages if m["type"] != "track")
    assert totals["filtered"] == non_tracked and totals["dead_lettered"] == 0 and totals["failed"] == 0
    assert wiring.local is not None
    expected = sum(len(m["properties"].get("products", [])) or 1 for m in messages if m["type"] == "track")
    assert wiring.local.store.interaction_count() == expected
    user = next(m["userId"] for m in messages if m.get("userId"))
    assert wiring.local.store.traits_for(user)["recommended_products"]
