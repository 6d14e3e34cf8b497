"""Pipeline counts kept in the local store: totals add up across batches and processes, every path
(Kinesis batches, single app events) contributes, and a failure to keep them never fails a batch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from consumers.bootstrap.stream import build_pipeline
from consumers.config.settings import Settings
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from destinations.local import LocalBackend
from schemas.batch import BatchCounts
from schemas.errors import RetryableError
from tests.factories import kinesis_event, segment_identify, segment_track
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker


def test_totals_add_up_batches_and_their_reasons(tmp_path: Path) -> None:
    backend = LocalBackend.open(tmp_path)
    try:
        backend.stats.record(
            BatchCounts(records=3, processed=1, filtered=2, interactions=1, filter_reasons={"identify": 2})
        )
        backend.stats.record(
            BatchCounts(records=2, dead_lettered=1, failed=1, dead_letter_reasons={"bad json": 1})
        )
        backend.stats.record(BatchCounts(records=1, filtered=1, filter_reasons={"identify": 1}))
    finally:
        backend.close()
    reopened = LocalBackend.open(tmp_path)  # another process reading the same state dir
    try:
        totals = reopened.stats.totals()
    finally:
        reopened.close()
    assert totals.summary() == {
        "records": 6,
        "processed": 1,
        "filtered": 3,
        "dead_lettered": 1,
        "failed": 1,
        "interactions": 1,
        "users_refreshed": 0,
        "timestamps_clamped": 0,
    }
    assert totals.balanced
    assert totals.filter_reasons == {"identify": 3}
    assert totals.dead_letter_reasons == {"bad json": 1}


def test_kinesis_batches_and_app_events_both_count(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), state_dir=tmp_path)
    pipeline, wiring = build_pipeline(settings)
    try:
        viewed = segment_track("Product Viewed", user_id="u1", properties={"product_id": "p1"})
        batch = kinesis_event([viewed, segment_identify("u1"), b"not json"])
        pipeline.handle(batch["Records"])
        pipeline.track_and_refresh(
            segment_track("Product Added", user_id="u1", properties={"product_id": "p2"}), 5
        )
        assert wiring.local is not None
        totals = wiring.local.stats.totals()
    finally:
        pipeline.close()
        if wiring.local is not None:
            wiring.local.close()
    assert (totals.records, totals.processed, totals.filtered, totals.dead_lettered) == (4, 2, 1, 1)
    assert totals.interactions == 2
    assert totals.users_refreshed == 2
    assert totals.filter_reasons == {"identify not tracked": 1}
    assert len(totals.dead_letter_reasons) == 1


def test_a_failure_to_keep_the_counts_does_not_fail_the_batch() -> None:
    seen: list[BatchCounts] = []

    def observer(counts: BatchCounts) -> None:
        seen.append(counts)
        raise RetryableError("database is locked", service="local-store")

    pipeline = Pipeline(
        tracker=FakeTracker(),
        recommender=FakeRecommender(),
        sinks=[FakeSink()],
        dead_letters=FakeDeadLetters(),
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=10),
        max_workers=2,
        counts_observer=observer,
    )
    try:
        event = segment_track("Product Viewed", properties={"product_id": "p1"})
        result = pipeline.handle(kinesis_event([event])["Records"])
    finally:
        pipeline.close()
    assert result.counts.processed == 1
    assert result.failed_sequence_numbers == []
    assert [c.processed for c in seen] == [1]
