"""Reliability 4, the dead-letter sink down: a poison record that cannot be dead-lettered is reported as a
failure (Lambda retries it), never dropped; once the queue answers again, it is dead-lettered with its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from destinations.aws.sqs_dead_letters import decode_body
from schemas.dead_letter import DeadLetter
from schemas.errors import PermanentError, RetryableError
from tests.fakes import FakeDeadLetters
from tests.functional.reliability_figures import report
from tests.functional.reliability_support import Tally, memory_pipeline
from tests.support.cloud_fake import CallType, CloudFake, FaultRates
from tests.support.hostile import ASCII_USERS, HostileStream, Plan, build_plan
from tests.support.lambda_retry import LambdaRetryEmulator

KINDS: Final = ("viewed", "identify", "truncated", "bad_utf8", "wrong_types", "over_limit", "kpl_corrupt_sub")
DOWN: Final = FaultRates(server_error=1.0)  # every SendMessageBatch attempt answers 500
STRESS_RECORDS: Final = 1_000


def _plan(records: int, seed: int) -> Plan:
    stream = HostileStream(seed, users=ASCII_USERS[:10], valid_share=0.6, kinds=KINDS)
    return build_plan(stream.records(records), batch_size=50)


def _poison_sequences(plan: Plan) -> set[str]:
    return {letter_id.split(":")[1] for letter_id in plan.dead}


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CloudFake, Pipeline]]:
    with CloudFake(faults={CallType.SEND_MESSAGE_BATCH: DOWN}) as fake:
        env = fake.env(PUE_STATE_DIR=str(tmp_path), PUE_LOG_LEVEL="ERROR")
        for name, value in env.items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        pipeline, _ = build_pipeline(Settings.from_env(env), engagement=EngagementSettings())
        yield fake, pipeline
        pipeline.close()


def test_poison_is_reported_for_retry_while_the_queue_is_down(aws: tuple[CloudFake, Pipeline]) -> None:
    fake, pipeline = aws
    plan = _plan(100, seed=41)
    for event in plan.events:
        response, result = handle_event(event, pipeline)
        assert result is not None and result.counts.balanced
        reported = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        in_batch = {record["kinesis"]["sequenceNumber"] for record in event["Records"]}
        # Every poison record of the batch is reported (none counted as dead-lettered), and nothing else is.
        assert reported == _poison_sequences(plan) & in_batch
        assert result.counts.dead_lettered == 0 and result.counts.failed > 0
    assert fake.dead_letters() == []
    assert fake.calls()[CallType.SEND_MESSAGE_BATCH] > 0


def _retry_until_the_queue_is_back(
    aws: tuple[CloudFake, Pipeline], plan: Plan, outage: int
) -> tuple[Tally, dict[str, int]]:
    """The queue is down for the first ``outage`` deliveries, then up; Lambda retries meanwhile."""
    fake, pipeline = aws
    deliveries = [0]

    def invoke(event: dict[str, object]) -> tuple[object, object]:
        deliveries[0] += 1
        if deliveries[0] == outage + 1:
            fake.set_faults(None)
        return handle_event(event, pipeline)

    outcome = LambdaRetryEmulator(invoke, max_retry_attempts=outage + 1).run(plan.event())  # type: ignore[arg-type]
    tally = Tally("dead-letter queue down", records=plan.user_records, invocations=outcome.invocations)
    kinds: dict[str, int] = {}
    for (_, fault), count in fake.faults().items():
        kinds[fault.value] = kinds.get(fault.value, 0) + count
    tally.faults = sum(kinds.values())
    letters: dict[str, bytes] = {}
    for message in fake.dead_letters():
        raw, meta = decode_body(message.body)
        where = DeadLetter(raw, "", meta["shardId"], meta["sequenceNumber"], meta["subSequenceNumber"])
        letters[where.letter_id] = raw
    tally.dead_lettered = len(letters)
    for letter_id, part in plan.dead.items():
        if letters.get(letter_id) != part.raw:
            tally.lose(f"poison record {letter_id}")
    for sequence in outcome.abandoned:
        tally.lose(f"record {sequence} given up")
    return tally, kinds


def test_poison_is_dead_lettered_once_the_queue_is_back(aws: tuple[CloudFake, Pipeline]) -> None:
    tally, _ = _retry_until_the_queue_is_back(aws, _plan(100, seed=42), outage=3)
    assert tally.problems == []
    assert tally.faults > 0 and tally.dead_lettered > 0


@pytest.mark.stress
def test_dead_letter_outage_full_run(aws: tuple[CloudFake, Pipeline]) -> None:
    tally, kinds = _retry_until_the_queue_is_back(aws, _plan(STRESS_RECORDS, seed=43), outage=5)
    report(tally, faults_by_kind=kinds)
    assert tally.problems == []


@pytest.mark.parametrize(
    "error",
    [RetryableError("down", service="sqs"), PermanentError("denied", service="sqs"), RuntimeError("bug")],
    ids=["retryable", "permanent", "unexpected"],
)
def test_any_dead_letter_sink_error_means_retry(error: Exception) -> None:
    """Whatever the sink raises (even an error it calls permanent, even a bug), the poison comes back."""
    sink = FakeDeadLetters()
    pipeline = memory_pipeline(sink)
    sink.error = error  # type: ignore[assignment]
    plan = _plan(40, seed=44)
    try:
        for event in plan.events:
            response, result = handle_event(event, pipeline)
            assert result is not None and result.counts.dead_lettered == 0
            reported = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
            in_batch = {record["kinesis"]["sequenceNumber"] for record in event["Records"]}
            assert reported == _poison_sequences(plan) & in_batch
    finally:
        pipeline.close()
