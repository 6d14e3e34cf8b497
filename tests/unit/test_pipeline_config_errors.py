"""A configuration problem met at run time (credentials gone, region unset) is not the record's fault: the
records are reported for retry, never dead-lettered or counted as done."""

from __future__ import annotations

from typing import Any

from consumers.stream.lambda_batch import handle_event
from schemas.errors import ConfigError, PueError
from tests.factories import kinesis_event
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker
from tests.unit.test_pipeline import pipeline_factory, viewed

__all__ = ["pipeline_factory"]  # the fixture, used by name below

NO_CREDENTIALS = ConfigError(["personalize-events: NoCredentialsError (AWS credentials are not configured)"])


def no_credentials(_: object) -> PueError | None:
    return NO_CREDENTIALS


def sequence_numbers(event: dict[str, Any]) -> list[str]:
    return [r["kinesis"]["sequenceNumber"] for r in event["Records"]]


def test_tracker_without_credentials_fails_every_record_for_retry(pipeline_factory: Any) -> None:
    dead = FakeDeadLetters()
    pipeline = pipeline_factory(tracker=FakeTracker(fault=no_credentials), dead_letters=dead)
    event = kinesis_event(viewed("alice", 3) + viewed("bob", 1))
    response, result = handle_event(event, pipeline)

    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == sequence_numbers(event)
    assert dead.letters == []
    assert result is not None and result.counts.failed == 4 and result.counts.balanced
    assert result.counts.failure_reasons  # said why, once per reason


def test_recommender_without_credentials_fails_the_users_records(pipeline_factory: Any) -> None:
    pipeline = pipeline_factory(recommender=FakeRecommender(fault=no_credentials))
    event = kinesis_event(viewed("alice", 2))
    response, result = handle_event(event, pipeline)

    assert len(response["batchItemFailures"]) == 2
    assert result is not None and result.counts.failed == 2 and result.counts.processed == 0


def test_a_sink_without_credentials_fails_the_users_records(pipeline_factory: Any) -> None:
    sink = FakeSink(fail_users={"alice": NO_CREDENTIALS})
    pipeline = pipeline_factory(sinks=[sink])
    event = kinesis_event(viewed("alice", 1) + viewed("bob", 1))
    response, result = handle_event(event, pipeline)

    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == sequence_numbers(event)[:1]
    assert result is not None and result.counts.failed == 1 and result.counts.processed == 1
