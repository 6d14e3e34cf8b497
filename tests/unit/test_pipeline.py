"""The pipeline's accounting, grouping, ordering and error handling, over scriptable fake ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from consumers.stream.event_map import EventMap
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline, RefreshOptions
from schemas.errors import PermanentError, PoisonRecord, PueError, RetryableError
from schemas.interaction import EventBatch
from tests.factories import kinesis_event, segment_track
from tests.fakes import FakeDeadLetters, FakePurchases, FakeRecommender, FakeSink, FakeTracker


def make_pipeline(
    tracker: FakeTracker | None = None,
    recommender: FakeRecommender | None = None,
    sinks: list[FakeSink] | None = None,
    dead_letters: FakeDeadLetters | None = None,
    purchases: FakePurchases | None = None,
) -> Pipeline:
    return Pipeline(
        tracker=tracker or FakeTracker(),
        recommender=recommender or FakeRecommender(),
        sinks=sinks if sinks is not None else [FakeSink()],
        dead_letters=dead_letters or FakeDeadLetters(),
        purchases=purchases,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=10),
        max_workers=4,
    )


@pytest.fixture
def pipeline_factory() -> Iterator[Any]:
    made: list[Pipeline] = []

    def factory(**kwargs: Any) -> Pipeline:
        made.append(make_pipeline(**kwargs))
        return made[-1]

    yield factory
    for p in made:
        p.close()


def viewed(user: str | None, n: int, *, session: str | None = None) -> list[dict[str, Any]]:
    """``n`` views by ``user`` (None: an anonymous visitor, known by its ``session`` anonymousId alone)."""
    return [
        segment_track(
            "Product Viewed",
            user_id=user,
            anonymous_id=session,
            properties={"product_id": f"p{k}"},
            message_id=f"{user}-{session}-{k}",
            timestamp=f"2026-11-01T12:{k // 60:02d}:{k % 60:02d}.000Z",
        )
        for k in range(n)
    ]


def test_events_are_grouped_per_user_and_session_in_chunks_of_ten(pipeline_factory: Any) -> None:
    tracker = FakeTracker()
    pipeline = pipeline_factory(tracker=tracker)
    messages = viewed("alice", 25, session="s1") + viewed("alice", 3, session="s2") + viewed("bob", 4)
    response, result = handle_event(kinesis_event(messages), pipeline)

    assert response == {"batchItemFailures": []}
    sizes = sorted(((b.user_id, b.session_id), len(b.interactions)) for b in tracker.batches)
    assert sizes == [
        (("alice", "s1"), 5),
        (("alice", "s1"), 10),
        (("alice", "s1"), 10),
        (("alice", "s2"), 3),
        (("bob", "bob"), 4),
    ]
    alice_s1 = [i.event_id for b in tracker.batches if b.session_id == "s1" for i in b.interactions]
    assert alice_s1 == [f"alice-s1-{k}" for k in range(25)]
    assert result is not None and result.counts.summary() == {
        "records": 32,
        "processed": 32,
        "filtered": 0,
        "dead_lettered": 0,
        "failed": 0,
        "interactions": 32,
        "users_refreshed": 2,
        "timestamps_clamped": 0,
    }


def test_one_recommendation_per_user_after_its_events(pipeline_factory: Any) -> None:
    calls: list[str] = []

    def note_track(batch: object) -> PueError | None:
        assert isinstance(batch, EventBatch)
        calls.append(f"track:{batch.user_id}")
        return None

    def note_recommend(request: object) -> PueError | None:
        calls.append(f"recommend:{getattr(request, 'user_id', None)}")
        return None

    sink = FakeSink()
    pipeline = pipeline_factory(
        tracker=FakeTracker(fault=note_track), recommender=FakeRecommender(fault=note_recommend), sinks=[sink]
    )
    handle_event(
        kinesis_event(viewed("alice", 12) + viewed("bob", 2) + viewed("alice", 1, session="x")), pipeline
    )

    assert sorted(c for c in calls if c.startswith("recommend")) == ["recommend:alice", "recommend:bob"]
    for user in ("alice", "bob"):
        last_track = max(i for i, c in enumerate(calls) if c == f"track:{user}")
        assert calls.index(f"recommend:{user}") > last_track
    assert sorted(r.user_id for r in sink.published) == ["alice", "bob"]
    assert all(r.refresh_key for r in sink.published)


def test_poison_is_dead_lettered_with_raw_bytes_and_the_batch_goes_on(pipeline_factory: Any) -> None:
    dead = FakeDeadLetters()
    pipeline = pipeline_factory(dead_letters=dead)
    event = kinesis_event([b"{not json", b"[1, 2]", *viewed("alice", 2)])
    event["Records"].append(
        {
            "kinesis": {"sequenceNumber": "999", "data": "***not base64***"},
            "eventID": "shardId-000000000007:999",
        }
    )
    response, result = handle_event(event, pipeline)

    assert response == {"batchItemFailures": []}
    assert result is not None
    assert result.counts.dead_lettered == 3 and result.counts.processed == 2 and result.counts.balanced
    raws = {letter.raw for letter in dead.letters}
    assert b"{not json" in raws and b"[1, 2]" in raws
    assert all(letter.reason and letter.sequence_number for letter in dead.letters)
    assert any(letter.shard_id == "shardId-000000000007" for letter in dead.letters)


def test_throttled_user_is_reported_for_retry_others_complete(pipeline_factory: Any) -> None:
    def throttle_bob(batch: object) -> PueError | None:
        if isinstance(batch, EventBatch) and batch.user_id == "bob":
            return RetryableError("slow down", service="personalize-events", code="ThrottlingException")
        return None

    sink = FakeSink()
    pipeline = pipeline_factory(tracker=FakeTracker(fault=throttle_bob), sinks=[sink])
    event = kinesis_event(viewed("alice", 2) + viewed("bob", 2))
    response, result = handle_event(event, pipeline)

    bob_sequences = [r["kinesis"]["sequenceNumber"] for r in event["Records"][2:]]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == bob_sequences
    assert result is not None and result.counts.failed == 2 and result.counts.processed == 2
    assert [r.user_id for r in sink.published] == ["alice"]


def test_a_rejected_call_is_split_so_only_the_bad_record_is_dead_lettered(pipeline_factory: Any) -> None:
    def reject_p1(batch: object) -> PueError | None:
        assert isinstance(batch, EventBatch)
        if any(i.item_id == "p1" for i in batch.interactions):
            return PermanentError("invalid item", service="personalize-events", code="InvalidInputException")
        return None

    tracker, dead = FakeTracker(fault=reject_p1), FakeDeadLetters()
    pipeline = pipeline_factory(tracker=tracker, dead_letters=dead)
    messages = viewed("alice", 3)
    response, result = handle_event(kinesis_event(messages), pipeline)

    assert response == {"batchItemFailures": []}
    assert tracker.event_ids == ["alice-None-0", "alice-None-2"]
    assert [json.loads(letter.raw)["messageId"] for letter in dead.letters] == ["alice-None-1"]
    assert "InvalidInputException" in dead.letters[0].reason
    assert result is not None and result.counts.dead_lettered == 1 and result.counts.processed == 2


def test_dead_letter_sink_down_reports_poison_for_retry(pipeline_factory: Any) -> None:
    dead = FakeDeadLetters(error=RetryableError("queue unavailable", service="sqs"))
    pipeline = pipeline_factory(dead_letters=dead)
    event = kinesis_event([b"garbage", *viewed("alice", 1)])
    response, result = handle_event(event, pipeline)

    assert response["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}
    ]
    assert result is not None and result.counts.failed == 1 and result.counts.dead_lettered == 0


def test_sink_failures_retry_when_transient_and_are_counted_when_permanent(pipeline_factory: Any) -> None:
    sink = FakeSink(
        fail_users={
            "alice": RetryableError("503", service="segment"),
            "bob": PermanentError("400", service="segment"),
        }
    )
    pipeline = pipeline_factory(sinks=[sink])
    event = kinesis_event(viewed("alice", 1) + viewed("bob", 1) + viewed("carol", 1))
    response, result = handle_event(event, pipeline)

    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        event["Records"][0]["kinesis"]["sequenceNumber"]
    ]
    assert result is not None
    assert result.counts.processed == 2 and result.counts.failed == 1 and result.counts.users_refreshed == 1


def test_purchased_items_are_removed_keeping_rank_order(pipeline_factory: Any) -> None:
    sink = FakeSink()
    pipeline = pipeline_factory(
        recommender=FakeRecommender(items=("a", "b", "c", "d")),
        sinks=[sink],
        purchases=FakePurchases({"alice": frozenset({"b", "d"})}),
    )
    handle_event(kinesis_event(viewed("alice", 1)), pipeline)
    assert sink.published[0].item_ids == ("a", "c")


def test_kpl_sub_records_report_their_parent_once(pipeline_factory: Any) -> None:
    def throttle_all(_: object) -> PueError | None:
        return RetryableError("throttled", code="ThrottlingException")

    pipeline = pipeline_factory(tracker=FakeTracker(fault=throttle_all))
    event = kinesis_event(viewed("alice", 5), aggregate=5)
    response, result = handle_event(event, pipeline)

    assert len(event["Records"]) == 1
    assert response["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}
    ]
    assert result is not None and result.counts.records == 5 and result.counts.failed == 5


def test_anonymous_sessions_are_tracked_but_not_refreshed(pipeline_factory: Any) -> None:
    tracker, recommender = FakeTracker(), FakeRecommender()
    pipeline = pipeline_factory(tracker=tracker, recommender=recommender)
    messages = [
        segment_track("Product Viewed", user_id=None, anonymous_id="anon-1", properties={"product_id": "p"})
    ]
    _, result = handle_event(kinesis_event(messages), pipeline)

    assert [(b.user_id, b.session_id) for b in tracker.batches] == [(None, "anon-1")]
    assert recommender.requests == []
    assert result is not None and result.counts.processed == 1 and result.counts.users_refreshed == 0


def test_unexpected_exception_in_an_adapter_is_retried_not_lost(pipeline_factory: Any) -> None:
    def crash(_: object) -> PueError | None:
        raise KeyError("bug")

    pipeline = pipeline_factory(tracker=FakeTracker(fault=crash))
    event = kinesis_event(viewed("alice", 2))
    response, result = handle_event(event, pipeline)
    assert len(response["batchItemFailures"]) == 2
    assert result is not None and result.counts.failed == 2 and result.counts.balanced


def test_filtered_messages_are_counted_with_reasons(pipeline_factory: Any) -> None:
    pipeline = pipeline_factory()
    messages = [
        {"type": "identify", "userId": "u", "messageId": "m1", "timestamp": "2026-11-01T00:00:00Z"},
        segment_track("Signed Up", user_id="u"),
    ]
    _, result = handle_event(kinesis_event(messages), pipeline)
    assert result is not None and result.counts.filtered == 2 and result.counts.balanced
    assert sum(result.counts.filter_reasons.values()) == 2


def test_handler_reports_every_record_when_the_pipeline_itself_breaks() -> None:
    class Broken:
        def handle(self, records: object) -> object:
            raise RuntimeError("bug")

    event = kinesis_event(viewed("alice", 3))
    response, result = handle_event(event, Broken())  # type: ignore[arg-type]
    assert result is None
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        r["kinesis"]["sequenceNumber"] for r in event["Records"]
    ]


def test_track_and_refresh_one_message_for_the_api(pipeline_factory: Any) -> None:
    tracker, sink = FakeTracker(), FakeSink()
    pipeline = pipeline_factory(tracker=tracker, sinks=[sink])
    message = segment_track(
        "Product Viewed", user_id="alice", properties={"product_id": "p9"}, message_id="m-1"
    )

    recommendation = pipeline.track_and_refresh(message, num_results=2)

    assert tracker.event_ids == ["m-1"]
    assert recommendation.user_id == "alice" and len(recommendation.items) == 2
    assert recommendation.refresh_key == "m-1"
    assert sink.published == [recommendation]


def test_track_and_refresh_answers_an_anonymous_visitor_for_its_anonymous_id(pipeline_factory: Any) -> None:
    tracker, sink = FakeTracker(), FakeSink()
    pipeline = pipeline_factory(tracker=tracker, sinks=[sink])
    message = segment_track(
        "Product Viewed",
        user_id=None,
        anonymous_id="visitor-1",
        properties={"product_id": "p"},
        message_id="m-2",
    )

    recommendation = pipeline.track_and_refresh(message, num_results=2)

    assert tracker.event_ids == ["m-2"]
    assert recommendation.user_id == "visitor-1" and len(recommendation.items) == 2
    assert sink.published == []  # a sink's profiles are keyed by userId


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "track", "event": "Product Viewed", "userId": "a"}, PoisonRecord),  # no messageId
        (segment_track("Signed Up", user_id="a"), PermanentError),
    ],
)
def test_track_and_refresh_rejects_what_it_cannot_track(
    pipeline_factory: Any, message: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        pipeline_factory().track_and_refresh(message)


def test_track_and_refresh_surfaces_throttling(pipeline_factory: Any) -> None:
    def throttle(_: object) -> PueError | None:
        return RetryableError("slow down", code="ThrottlingException")

    pipeline = pipeline_factory(tracker=FakeTracker(fault=throttle))
    with pytest.raises(RetryableError):
        pipeline.track_and_refresh(
            segment_track("Product Viewed", user_id="a", properties={"product_id": "p"})
        )
