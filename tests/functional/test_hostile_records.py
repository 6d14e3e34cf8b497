"""Issue 14 item 5 (outside the server): NUL in ids, an empty userId beside a valid anonymousId, dead
letters of records without a Kinesis identity, and a KPL aggregate of 120,000 bad sub-records."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_kinesis_agg import MAGIC

from consumers.bootstrap.api import build_api
from consumers.config.api_settings import ApiSettings
from consumers.config.settings import Settings
from consumers.stream.aggregate_guard import MAX_BAD_SUB_RECORDS, TOO_MANY_BAD_SUB_RECORDS
from consumers.stream.decode import (
    _protobuf as decode_protobuf,  # the KPL message class, imported as decode does
)
from consumers.stream.event_map import EventMap
from consumers.stream.pipeline import Pipeline, RefreshOptions
from consumers.web.contract import ApiRequest
from destinations.local import LocalBackend
from schemas.limits import KINESIS_RECORD_MAX_BYTES
from tests.factories import kinesis_event, kinesis_record, segment_track
from tests.fakes import FakeDeadLetters, FakeRecommender, FakeSink, FakeTracker
from tests.functional.api_harness import API_KEY

BAD_SUB_RECORDS = 120_000


def viewed(**fields: Any) -> dict[str, Any]:
    message = segment_track("Product Viewed", user_id="u1", properties={"product_id": "p1"}, message_id="m1")
    message.update(fields)
    return message


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"messageId": "m\x00-1"}, "eventId contains a NUL character"),
        ({"properties": {"product_id": "p\x00"}}, "itemId contains a NUL character"),
    ],
)
def test_nul_in_an_id_is_poison_on_the_stream_and_refused_by_the_api(
    tmp_path: Path, local_pipeline: tuple[Pipeline, LocalBackend], fields: dict[str, Any], reason: str
) -> None:
    pipeline, backend = local_pipeline
    result = pipeline.handle(kinesis_event([viewed(**fields)])["Records"])
    assert result.counts.dead_lettered == 1 and result.counts.dead_letter_reasons == {reason: 1}
    assert backend.store.interactions_for("u1") == []
    api = build_api(
        dataclasses.replace(Settings(), state_dir=tmp_path / "api-state"), ApiSettings(api_keys=(API_KEY,))
    )
    try:
        headers = {"content-type": "application/json", "x-api-key": API_KEY}
        body = json.dumps(viewed(**fields)).encode()
        response = api.handle(ApiRequest("POST", "/events", (), headers, body))
    finally:
        api.close()
    assert response.status == 422 and json.loads(response.body)["error"]["message"] == reason


def test_an_empty_user_id_beside_a_valid_anonymous_id_is_tracked_as_anonymous(
    local_pipeline: tuple[Pipeline, LocalBackend],
) -> None:
    pipeline, backend = local_pipeline
    result = pipeline.handle(kinesis_event([viewed(userId="", anonymousId="anon-1")])["Records"])
    assert (result.counts.processed, result.counts.dead_lettered) == (1, 0)
    assert backend.store.dead_letter_count() == 0


def test_records_without_a_kinesis_identity_keep_their_bytes_under_distinct_ids(
    local_pipeline: tuple[Pipeline, LocalBackend],
) -> None:
    pipeline, backend = local_pipeline
    odd: list[dict[str, Any]] = [
        {"kinesis": {"data": "!!not base64"}},
        {"kinesis": {"data": "??also not"}},
        {"eventName": "x"},
    ]
    result = pipeline.handle(odd)
    assert result.counts.dead_lettered == 3
    letters = backend.store.dead_letters(limit=10)
    assert len({letter.letter_id for letter in letters}) == 3 == backend.store.dead_letter_count()
    assert {letter.raw for letter in letters} == {
        b"!!not base64",
        b"??also not",
        json.dumps({"eventName": "x"}, sort_keys=True).encode(),
    }


def aggregate_event(bad: int, good: list[bytes]) -> dict[str, Any]:
    """One KPL aggregate in the aggregation format (magic + protobuf + md5), built with the KPL's own
    protobuf message: aws-kinesis-agg's aggregator stops well before 120,000 sub-records (it reserves
    room per record), a producer writing the format itself does not."""
    aggregated_record, _ = decode_protobuf()
    aggregate = aggregated_record()
    aggregate.partition_key_table.append("pk")
    for payload in [b"\xff"] * bad + good:  # 0xff is not UTF-8: each one is undecodable on its own
        aggregate.records.add(partition_key_index=0, data=payload)
    body = aggregate.SerializeToString()
    data = MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
    assert len(data) <= KINESIS_RECORD_MAX_BYTES  # a record Kinesis accepts
    return {"Records": [kinesis_record(data, sequence_number="00042")]}


def pipeline_with(letters: FakeDeadLetters, tracker: FakeTracker) -> Pipeline:
    return Pipeline(
        tracker=tracker,
        recommender=FakeRecommender(),
        sinks=[FakeSink()],
        dead_letters=letters,
        purchases=None,
        event_map=EventMap.default(),
        refresh=RefreshOptions(num_results=5),
        max_workers=2,
    )


def test_an_aggregate_of_120000_bad_sub_records_is_one_letter_holding_it_whole() -> None:
    good = [json.dumps(viewed(messageId=f"good-{n}")).encode() for n in range(2)]
    event = aggregate_event(BAD_SUB_RECORDS, good)
    letters, tracker = FakeDeadLetters(), FakeTracker()
    pipeline = pipeline_with(letters, tracker)
    try:
        result = pipeline.handle(event["Records"])
    finally:
        pipeline.close()
    (letter,) = letters.letters
    assert letter.raw == base64.b64decode(event["Records"][0]["kinesis"]["data"])
    assert (
        letter.reason
        == f"{TOO_MANY_BAD_SUB_RECORDS}: {BAD_SUB_RECORDS:,} of {BAD_SUB_RECORDS + 2:,} sub-records bad"
    )
    assert (letter.sequence_number, letter.sub_sequence_number) == ("00042", None)
    assert result.counts.dead_letter_reasons == {TOO_MANY_BAD_SUB_RECORDS: 1}
    assert (result.counts.records, result.counts.processed, result.counts.dead_lettered) == (3, 2, 1)
    assert tracker.event_ids == ["good-0", "good-1"]  # the good sub-records are tracked as usual


def test_up_to_the_stated_number_each_bad_sub_record_is_its_own_letter() -> None:
    letters = FakeDeadLetters()
    pipeline = pipeline_with(letters, FakeTracker())
    try:
        result = pipeline.handle(aggregate_event(MAX_BAD_SUB_RECORDS, [])["Records"])
    finally:
        pipeline.close()
    sent = letters.letters
    assert len(sent) == MAX_BAD_SUB_RECORDS == result.counts.dead_lettered
    assert {letter.raw for letter in sent} == {b"\xff"}
