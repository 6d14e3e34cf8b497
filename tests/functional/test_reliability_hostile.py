"""Reliability 1, hostile input: generated broken records mixed with valid ones never crash the handler,
never fail a batch, and each ends where it must (tracked, filtered, or dead-lettered with its bytes).

The default suite runs a few thousand records; ``make stress`` runs over ten thousand and prints the figures.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import consumers.kinesis
from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from tests import factories
from tests.fakes import FakeDeadLetters
from tests.functional.reliability_figures import report
from tests.functional.reliability_hostile_run import check_hostile, run_hostile
from tests.functional.reliability_support import SECRETS, memory_pipeline
from tests.support.cloud_fake import SPACE_ID, CloudFake
from tests.support.hostile import HostileStream, build_plan

SUITE_RECORDS: Final = 2_000
STRESS_RECORDS: Final = 12_000  # the issue asks for at least 10,000
SEEDS: Final = (11, 12)  # different mixes; each run is reproducible from its seed


@pytest.fixture
def fake() -> Iterator[CloudFake]:
    with CloudFake() as running:
        yield running


def test_hostile_stream_is_sorted_into_the_right_buckets(tmp_path: Path, fake: CloudFake) -> None:
    run = run_hostile(tmp_path, fake, records=SUITE_RECORDS, seed=SEEDS[0])
    tally = check_hostile(run)
    assert tally.problems == []
    # The oracle is not empty: the run did exercise every bucket.
    assert tally.tracked > 0 and tally.dead_lettered > 0 and tally.filtered > 0


@pytest.mark.stress
@pytest.mark.parametrize("seed", SEEDS)
def test_hostile_stream_full_run(tmp_path: Path, fake: CloudFake, seed: int) -> None:
    run = run_hostile(tmp_path, fake, records=STRESS_RECORDS, seed=seed)
    tally = check_hostile(run)
    report(tally, by_kind=run.plan.kinds())
    assert tally.problems == []
    assert tally.records >= 10_000


def test_the_check_catches_a_lost_record(tmp_path: Path, fake: CloudFake) -> None:
    """The oracle can fail: a dead letter that vanished is reported as lost."""
    run = run_hostile(tmp_path, fake, records=200, seed=3)
    run.letters = run.letters[1:]
    assert check_hostile(run).lost == 1


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The cold start configures the root logger: give other tests theirs back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_the_real_handler_never_raises_on_hostile_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: CloudFake
) -> None:
    """``consumers.kinesis.handler`` itself (cold start from the environment, then batches)."""
    for name, value in {"PUE_STATE_DIR": str(tmp_path), "PUE_LOG_LEVEL": "ERROR", **SECRETS}.items():
        monkeypatch.setenv(name, value)
    for name in ("SEGMENT_API_HOST", "SEGMENT_PROFILE_API_HOST"):
        monkeypatch.setenv(name, fake.url)
    monkeypatch.setenv("SEGMENT_SPACE_ID", SPACE_ID)
    monkeypatch.setattr(consumers.kinesis, "_pipeline", None)
    plan = build_plan(HostileStream(5).records(300), batch_size=100)
    try:
        for event in plan.events:
            assert consumers.kinesis.handler(event, None) == {"batchItemFailures": []}
        # Not even for events that are not Kinesis events at all.
        for junk in ({}, {"Records": None}, {"Records": [None, 1, "x", {"kinesis": None}]}):
            assert consumers.kinesis.handler(junk, None) == {"batchItemFailures": []}
    finally:
        pipeline = consumers.kinesis._pipeline
        if pipeline is not None:
            pipeline.close()


# -- any bytes at all, any JSON at all ----------------------------------------------------------------

JSON: Final = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
SEGMENTISH: Final = st.fixed_dictionaries(
    {"type": st.sampled_from(["track", "identify", "page", 5, None])},
    optional={
        "event": st.sampled_from(["Product Viewed", "Order Completed", ""]) | JSON,
        "messageId": st.text(max_size=300) | st.integers() | JSON,
        "userId": st.text(max_size=300) | st.integers() | JSON,
        "anonymousId": st.text(max_size=10) | JSON,
        "timestamp": st.sampled_from(["2026-11-01T12:00:00Z", "2026-11-01", ""]) | JSON,
        "properties": st.fixed_dictionaries({}, optional={"product_id": JSON, "products": JSON}) | JSON,
    },
)
PAYLOADS: Final = st.lists(
    st.binary(max_size=64)
    | JSON.map(lambda value: json.dumps(value).encode())
    | SEGMENTISH.map(lambda value: json.dumps(value).encode()),
    min_size=1,
    max_size=12,
)


@pytest.fixture
def local_pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    env = {"PUE_STATE_DIR": str(tmp_path), "PUE_LOG_LEVEL": "ERROR"}
    pipeline, wiring = build_pipeline(Settings.from_env(env), engagement=EngagementSettings())
    yield pipeline
    pipeline.close()
    if wiring.local is not None:
        wiring.local.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=PAYLOADS, aggregate=st.sampled_from([0, 3]))
def test_any_payload_lands_in_exactly_one_bucket(
    local_pipeline: Pipeline, payloads: list[bytes], aggregate: int
) -> None:
    event = factories.kinesis_event(payloads, aggregate=aggregate, start_sequence=_next_sequence())
    response, result = handle_event(event, local_pipeline)
    assert response == {"batchItemFailures": []}
    assert result is not None
    counts = result.counts
    assert counts.records == len(payloads) and counts.balanced and counts.failed == 0


@settings(max_examples=40, deadline=None)
@given(data=st.text(max_size=40) | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode() + "!"))
def test_undecodable_data_is_dead_lettered_with_its_bytes(data: str) -> None:
    dead_letters = FakeDeadLetters()
    pipeline = memory_pipeline(dead_letters)
    record = factories.kinesis_record(b"", sequence_number="1")
    record["kinesis"]["data"] = data
    try:
        response, result = handle_event({"Records": [record]}, pipeline)
    finally:
        pipeline.close()
    assert response == {"batchItemFailures": []}
    assert result is not None and result.counts.balanced and result.counts.records == 1
    if result.counts.dead_lettered:  # anything but a decodable, valid message
        [letter] = dead_letters.letters
        assert letter.reason
        assert letter.raw in (data.encode("utf-8", "surrogatepass"), _b64(data))


def _b64(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return None


_sequence = [0]


def _next_sequence() -> int:
    """Fresh sequence numbers per example: dead-letter ids stay distinct across examples."""
    _sequence[0] += 100
    return _sequence[0]
