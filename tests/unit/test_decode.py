"""decode_record: base64 -> KPL deaggregation -> UTF-8 -> JSON object, one record at a time, never raising."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
from aws_kinesis_agg import DIGEST_SIZE, MAGIC
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.stream.decode import (
    Decoded,
    RecordRef,
    Undecodable,
    decode_record,
)
from schemas.dead_letter import DeadLetter
from tests.factories import kinesis_event, kinesis_record, kpl_aggregate, segment_track

SEQ = "49546986683135544286507457936321625675700192471156785154"


def record(data: bytes, **kwargs: Any) -> dict[str, Any]:
    return kinesis_record(data, sequence_number=SEQ, **kwargs)


def only(entries: list[Decoded | Undecodable]) -> Decoded | Undecodable:
    assert len(entries) == 1
    return entries[0]


def undecodable(entries: list[Decoded | Undecodable]) -> Undecodable:
    entry = only(entries)
    assert isinstance(entry, Undecodable), entry
    return entry


def framed(body: bytes) -> bytes:
    """A KPL frame around ``body``: magic, body, md5 of body."""
    magic: bytes = MAGIC
    return magic + body + hashlib.md5(body, usedforsecurity=False).digest()


def aggregated_record(partition_keys: list[str], subs: list[tuple[int, bytes]]) -> bytes:
    """A KPL aggregate built field by field, to make ones the KPL itself would never write."""
    # aggregator first: importing it sets up the import path messages_pb2 needs.
    from aws_kinesis_agg import aggregator, messages_pb2  # noqa: F401

    aggregate = messages_pb2.AggregatedRecord()
    aggregate.partition_key_table.extend(partition_keys)
    for key_index, data in subs:
        sub = aggregate.records.add()
        sub.partition_key_index = key_index
        sub.data = data
    body: bytes = aggregate.SerializeToString()
    return framed(body)


# -- plain records ---------------------------------------------------------------------------------


def test_a_plain_record_decodes_to_its_message_and_origin() -> None:
    message = segment_track("Product Viewed", properties={"product_id": "p1"})
    raw = json.dumps(message).encode()
    entry = only(decode_record(record(raw, shard_id="shardId-000000000003", partition_key="u1")))

    assert isinstance(entry, Decoded)
    assert entry.message == message
    assert entry.raw == raw
    assert entry.ref == RecordRef(
        shard_id="shardId-000000000003",
        sequence_number=SEQ,
        sub_sequence_number=None,
        partition_key="u1",
        event_source_arn=entry.ref.event_source_arn,
    )
    assert entry.ref.event_source_arn is not None and entry.ref.event_source_arn.startswith(
        "arn:aws:kinesis:"
    )


def test_every_record_of_a_factory_event_decodes() -> None:
    messages = [segment_track("Product Viewed", properties={"product_id": f"p{i}"}) for i in range(3)]
    entries = [e for r in kinesis_event(messages)["Records"] for e in decode_record(r)]
    assert [e.message for e in entries if isinstance(e, Decoded)] == messages
    assert sorted(e.ref.sequence_number for e in entries) == [e.ref.sequence_number for e in entries]


def test_missing_event_id_and_sequence_number_are_unknown() -> None:
    data = base64.b64encode(b"{}").decode()
    entry = only(decode_record({"kinesis": {"data": data}}))
    assert isinstance(entry, Decoded)
    assert (entry.ref.shard_id, entry.ref.sequence_number, entry.ref.partition_key) == (
        "unknown",
        "unknown",
        None,
    )


@pytest.mark.parametrize(
    ("rec", "reason"),
    [
        ({}, "record without kinesis.data"),
        ({"kinesis": None}, "record without kinesis.data"),
        ({"kinesis": {"sequenceNumber": SEQ}}, "record without kinesis.data"),
        ({"kinesis": {"data": 12}}, "kinesis.data is not a string"),
        ({"kinesis": {"data": None}}, "kinesis.data is not a string"),
    ],
)
def test_a_record_without_data_is_undecodable(rec: dict[str, Any], reason: str) -> None:
    entry = undecodable(decode_record(rec))
    assert entry.reason == reason
    # With no data of its own, the letter keeps the whole record (issue 14: not 0 bytes).
    assert json.loads(entry.raw) == rec


def test_two_records_without_an_identity_get_distinct_letter_ids() -> None:
    first, second = (undecodable(decode_record({"kinesis": {"data": d}})) for d in ("!!", "??"))
    letters = [
        DeadLetter(e.raw, e.reason, e.ref.shard_id, e.ref.sequence_number, e.ref.sub_sequence_number)
        for e in (first, second)
    ]
    assert (first.ref.shard_id, first.ref.sequence_number) == ("unknown", "unknown")
    assert letters[0].letter_id != letters[1].letter_id
    assert [letter.raw for letter in letters] == [b"!!", b"??"]
    # Stable: the same record gives the same id on a redelivery.
    again = undecodable(decode_record({"kinesis": {"data": "!!"}}))
    assert DeadLetter(again.raw, again.reason, "unknown", "unknown").letter_id == letters[0].letter_id


def test_a_record_nested_too_deeply_to_serialize_is_still_a_letter() -> None:
    record: dict[str, Any] = {}
    for _ in range(100_000):
        record = {"kinesis": record}
    entry = undecodable(decode_record({"x": record}))
    assert entry.reason == "record without kinesis.data" and entry.raw


@pytest.mark.parametrize("data", ["***not base64***", "e30", "e30=\n", "ZX==é"])
def test_invalid_base64_keeps_the_text_it_got(data: str) -> None:
    entry = undecodable(decode_record({"eventID": "shardId-000000000001:5", "kinesis": {"data": data}}))
    assert entry.reason == "invalid base64"
    assert entry.raw == data.encode("utf-8")
    assert entry.ref.shard_id == "shardId-000000000001"


def test_invalid_utf8_is_undecodable_with_the_decoded_bytes() -> None:
    entry = undecodable(decode_record(record(b'{"a": "\xff"}')))
    assert (entry.reason, entry.raw) == ("invalid UTF-8", b'{"a": "\xff"}')


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON: Expecting property name enclosed in double quotes"),
        (b"", "invalid JSON: Expecting value"),
        (b'{"a": 1} {"b": 2}', "invalid JSON: Extra data"),
        (b'{"v": NaN}', "invalid JSON: NaN is not JSON"),
        (b'{"v": Infinity}', "invalid JSON: Infinity is not JSON"),
        (b'{"v": -Infinity}', "invalid JSON: -Infinity is not JSON"),
        (b'{"v": 1e999}', "invalid JSON: number out of range"),
        (b'{"v": ' + b"9" * 5000 + b"}", "invalid JSON: number out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON: nested too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_invalid_json_is_undecodable(raw: bytes, reason: str) -> None:
    entry = undecodable(decode_record(record(raw)))
    assert (entry.reason, entry.raw) == (reason, raw)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[1, 2]", "array"),
        (b'"text"', "string"),
        (b"42", "number"),
        (b"4.2", "number"),
        (b"true", "boolean"),
        (b"null", "null"),
    ],
)
def test_json_that_is_not_an_object_is_undecodable(raw: bytes, kind: str) -> None:
    assert undecodable(decode_record(record(raw))).reason == f"not a JSON object ({kind})"


# -- KPL aggregates --------------------------------------------------------------------------------


def test_a_kpl_aggregate_yields_each_sub_record_with_its_index_and_partition_key() -> None:
    messages = [
        segment_track("Product Viewed", user_id=f"u{i}", properties={"product_id": "p"}) for i in range(3)
    ]
    payloads = [json.dumps(m).encode() for m in messages]
    entries = decode_record(record(kpl_aggregate(payloads, ["a", "b", "a"])))

    assert all(isinstance(e, Decoded) for e in entries)
    assert [e.message for e in entries if isinstance(e, Decoded)] == messages
    assert [e.raw for e in entries] == payloads
    assert [e.ref.sub_sequence_number for e in entries] == [0, 1, 2]
    assert [e.ref.partition_key for e in entries] == ["a", "b", "a"]
    assert {e.ref.sequence_number for e in entries} == {SEQ}


def test_factory_aggregation_packs_groups_into_one_record_each() -> None:
    messages = [segment_track("Product Viewed", properties={"product_id": f"p{i}"}) for i in range(7)]
    event = kinesis_event(messages, aggregate=3)
    assert len(event["Records"]) == 3
    entries = [decode_record(r) for r in event["Records"]]
    assert [len(e) for e in entries] == [3, 3, 1]
    assert [d.message for group in entries for d in group if isinstance(d, Decoded)] == messages


def test_a_corrupt_sub_record_is_undecodable_alone() -> None:
    payloads = [b'{"n": 0}', b"{broken", b'{"n": 2}']
    entries = decode_record(record(kpl_aggregate(payloads, ["k", "k", "k"])))

    assert [type(e) for e in entries] == [Decoded, Undecodable, Decoded]
    bad = entries[1]
    assert isinstance(bad, Undecodable)
    assert bad.reason.startswith("invalid JSON")
    assert (bad.raw, bad.ref.sub_sequence_number, bad.ref.sequence_number) == (b"{broken", 1, SEQ)


def test_a_sub_record_with_an_out_of_range_partition_key_is_undecodable_alone() -> None:
    data = aggregated_record(["k0"], [(0, b'{"n": 0}'), (5, b'{"n": 1}')])
    first, second = decode_record(record(data))

    assert isinstance(first, Decoded) and first.message == {"n": 0}
    assert isinstance(second, Undecodable)
    assert second.reason == "corrupt KPL sub-record: partition key index out of range"
    assert (second.raw, second.ref.sub_sequence_number, second.ref.partition_key) == (b'{"n": 1}', 1, None)


def test_an_aggregate_with_a_wrong_md5_is_one_undecodable_record() -> None:
    good = kpl_aggregate([b'{"n": 0}', b'{"n": 1}'], ["k", "k"])
    damaged = good[:-1] + bytes([good[-1] ^ 0xFF])
    entry = undecodable(decode_record(record(damaged)))
    assert (entry.reason, entry.raw, entry.ref.sub_sequence_number) == (
        "corrupt KPL aggregate: md5 mismatch",
        damaged,
        None,
    )


def test_an_aggregate_whose_protobuf_does_not_parse_is_one_undecodable_record() -> None:
    data = framed(b"\xff\xff\xff\xff")
    entry = undecodable(decode_record(record(data)))
    assert (entry.reason, entry.raw) == ("corrupt KPL aggregate: protobuf", data)


def test_a_truncated_aggregate_is_undecodable() -> None:
    data = MAGIC + b"\x01\x02"
    assert undecodable(decode_record(record(data))).reason == "corrupt KPL aggregate: truncated"


def test_an_empty_aggregate_still_accounts_for_its_record() -> None:
    data = framed(b"")
    entry = undecodable(decode_record(record(data)))
    assert (entry.reason, entry.ref.sequence_number) == ("empty KPL aggregate", SEQ)


def test_protobuf_is_only_imported_when_an_aggregate_arrives() -> None:
    script = (
        "import sys, base64, json\n"
        "from consumers.stream.decode import decode_record\n"
        "decode_record({'kinesis': {'data': base64.b64encode(b'{}').decode()}})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('google', 'aws_kinesis_agg.')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# -- never raises ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


def check(entries: list[Decoded | Undecodable]) -> None:
    assert entries
    for entry in entries:
        assert isinstance(entry, Decoded | Undecodable)
        assert isinstance(entry.raw, bytes)
        assert isinstance(entry.ref.shard_id, str) and isinstance(entry.ref.sequence_number, str)
        if isinstance(entry, Decoded):
            assert isinstance(entry.message, dict)
        else:
            assert entry.reason


@settings(max_examples=300)
@given(st.binary(max_size=512))
def test_no_byte_string_makes_decode_raise(data: bytes) -> None:
    check(decode_record(record(data)))


@settings(max_examples=200)
@given(st.binary(max_size=256))
def test_no_framed_kpl_body_makes_decode_raise(body: bytes) -> None:
    check(decode_record(record(framed(body))))


@given(
    st.lists(st.binary(max_size=64), min_size=1, max_size=5), st.integers(0, len(MAGIC) + DIGEST_SIZE + 64)
)
def test_no_truncated_aggregate_makes_decode_raise(payloads: list[bytes], cut: int) -> None:
    data = kpl_aggregate(payloads, ["k"] * len(payloads))
    check(decode_record(record(data[:cut])))


@given(st.text(max_size=64))
def test_no_data_text_makes_decode_raise(text: str) -> None:
    check(decode_record({"kinesis": {"data": text}}))


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6), json_values)
def test_no_record_shape_makes_decode_raise(rec: dict[str, Any], kinesis: Any) -> None:
    check(decode_record(rec))
    check(decode_record({**rec, "kinesis": kinesis}))


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_every_json_object_round_trips(obj: dict[str, Any]) -> None:
    raw = json.dumps(obj).encode()
    entry = only(decode_record(record(raw)))
    assert isinstance(entry, Decoded) and entry.message == obj
