"""Poison kinds for ``HostileStream``: records pue must dead-letter, with how each reason starts.

Decode-level (``consumers.stream.decode``): base64, UTF-8, JSON, KPL. Message-level
(``consumers.stream.normalize``): wrong types, missing or empty ids, Personalize limits, lone surrogates in
ids.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from consumers.runners import lambda_events
from tests.support.hostile import HostileRecord, Part, encoded
from tests.support.hostile_kinds import ABSENT, Maker, aggregate, dead, events_of

_KPL_MAGIC: Final = b"\xf3\x89\x9a\xc2"

# -- decode level --------------------------------------------------------------------------------------


def bad_base64(m: Maker) -> HostileRecord:
    data = m.rng.choice(["%%% not base64 %%%", "YWJj*", "abc", "Zm9v\nYmFy", "üñí", "e30=e30="])
    part = Part("bad_base64", data.encode("utf-8"), dead=True, reason="invalid base64")
    return HostileRecord(data, "pk", (part,))


def bad_utf8(m: Maker) -> HostileRecord:
    text = json.dumps(m.viewed())
    broken = m.rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"])
    at = text.index('"Product Viewed"') + 3  # inside a string: everything else is valid JSON
    payload = text[:at].encode() + broken + text[at:].encode()
    return dead(m, "bad_utf8", payload, "invalid UTF-8")


def bom(m: Maker) -> HostileRecord:
    return dead(m, "bom", b"\xef\xbb\xbf" + json.dumps(m.viewed()).encode(), "invalid JSON")


def truncated(m: Maker) -> HostileRecord:
    payload = json.dumps(m.viewed()).encode()
    return dead(m, "truncated", payload[: m.rng.randrange(len(payload))], "invalid JSON")


def non_object(m: Maker) -> HostileRecord:
    payload = m.rng.choice(
        [b"[1, 2, 3]", b'"a string"', b"42", b"null", b"true", b"[]", b'[{"type": "track"}]']
    )
    return dead(m, "non_object", payload, "not a JSON object")


def not_json_numbers(m: Maker) -> HostileRecord:
    message = m.viewed()
    text = json.dumps(message).replace(
        '"price": 9.5', '"price": ' + m.rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
    )
    return dead(m, "not_json_numbers", text.encode(), "invalid JSON")


def big_int(m: Maker) -> HostileRecord:
    text = json.dumps(m.viewed(user_id=7))
    return dead(m, "big_int", text.replace('"userId": 7', '"userId": ' + "9" * 5000).encode(), "invalid JSON")


def deep(m: Maker) -> HostileRecord:
    depth = m.rng.randrange(20_000, 100_000)
    text = json.dumps(m.viewed()).replace('"price": 9.5', '"price": ' + "[" * depth + "]" * depth)
    return dead(m, "deep", text.encode(), "invalid JSON: nested too deeply")


def empty(m: Maker) -> HostileRecord:
    m.next_id()
    return dead(m, "empty", b"", "invalid JSON")


# -- message level -------------------------------------------------------------------------------------

# (field overrides, how the reason starts)
_WRONG_TYPES: Final[list[tuple[dict[str, Any], str]]] = [
    ({"type": 5}, "not a Segment message: type not a string"),
    ({"type": ABSENT}, "not a Segment message: no type"),
    ({"type": "bogus"}, "not a Segment message: unknown type"),
    ({"event": 123}, "track without event name"),
    ({"event": ""}, "track without event name"),
    ({"messageId": {"id": 1}}, "messageId is not a string or number"),
    ({"messageId": True}, "messageId is not a string or number"),
    ({"userId": ["u"]}, "userId is not a string or number"),
    ({"userId": ABSENT, "anonymousId": {"id": "a"}}, "anonymousId is not a string or number"),
    ({"timestamp": 1_700_000_000}, "no usable timestamp"),
    ({"timestamp": "2026-11-01"}, "no usable timestamp"),
    ({"timestamp": "yesterday"}, "no usable timestamp"),
]
_MISSING_IDS: Final[list[tuple[dict[str, Any], str]]] = [
    ({"messageId": ABSENT}, "no messageId"),
    ({"messageId": ""}, "eventId is empty"),
    ({"userId": ABSENT}, "no anonymousId or userId"),
    # An empty id is no id: with no other id left, the message has no actor.
    ({"userId": "", "anonymousId": ABSENT}, "no anonymousId or userId"),
    ({"userId": ABSENT, "anonymousId": ""}, "no anonymousId or userId"),
]
_OVER_LIMIT: Final[list[tuple[dict[str, Any], str]]] = [
    ({"messageId": "m" * 257}, "eventId longer than 256"),
    ({"userId": "u" * 300}, "userId longer than 256"),
    ({"userId": 10**300}, "userId longer than 256"),
    ({"userId": ABSENT, "anonymousId": "a" * 257}, "sessionId longer than 256"),
    ({"properties": {"product_id": "p" * 257}}, "itemId longer than 256"),
    ({"properties": {"product_id": "p", "recommendation_id": "r" * 41}}, "recommendationId longer than 40"),
    ({"properties": {"product_id": "p", "impression": [f"i{n}" for n in range(26)]}}, "impression has more"),
    (
        {"properties": {"products": [{"product_id": "ok"}, {"product_id": "p" * 300}]}},
        "itemId longer than 256",
    ),
    # The message id fits; the id derived for its 11th product ("...#10") does not.
    ({"messageId": "m" * 254, "properties": {"products": [{"sku": n} for n in range(11)]}}, "eventId longer"),
]
_LONE_SURROGATES: Final[list[tuple[dict[str, Any], str]]] = [
    ({"userId": "user-\ud800"}, "userId is not valid Unicode"),
    ({"userId": ABSENT, "anonymousId": "\udfff-anon"}, "sessionId is not valid Unicode"),
    ({"messageId": "m-\udbff"}, "eventId is not valid Unicode"),
    ({"properties": {"product_id": "p-\ud834"}}, "itemId is not valid Unicode"),
    # NUL ends a C string: an id holding one would name another id somewhere downstream.
    ({"messageId": "m-\x00-1"}, "eventId contains a NUL character"),
    ({"properties": {"product_id": "p\x00"}}, "itemId contains a NUL character"),
    ({"userId": "nul\x00byte"}, "userId contains a NUL character"),
]


def _overridden(m: Maker, kind: str, table: list[tuple[dict[str, Any], str]]) -> HostileRecord:
    overrides, reason = m.rng.choice(table)
    message = m.viewed()
    message.update(overrides)
    message = {name: value for name, value in message.items() if value is not ABSENT}
    return dead(m, kind, json.dumps(message).encode(), reason)


def wrong_types(m: Maker) -> HostileRecord:
    return _overridden(m, "wrong_types", _WRONG_TYPES)


def missing_ids(m: Maker) -> HostileRecord:
    return _overridden(m, "missing_ids", _MISSING_IDS)


def over_limit(m: Maker) -> HostileRecord:
    return _overridden(m, "over_limit", _OVER_LIMIT)


def lone_surrogate_ids(m: Maker) -> HostileRecord:
    return _overridden(m, "lone_surrogate_ids", _LONE_SURROGATES)


def huge_poison(m: Maker) -> HostileRecord:
    message = m.viewed()
    message.update(messageId="m" * 1000, padding="z" * m.rng.randrange(100_000, 400_000))
    return dead(m, "huge_poison", json.dumps(message).encode(), "eventId longer than 256")


def forwarded_over_limit(m: Maker) -> HostileRecord:
    """Needs the event map to forward ``m.forwarded`` to Personalize (``property_whitelist``)."""
    assert m.forwarded is not None
    value, reason = m.rng.choice(
        [("x" * 1100, "properties longer than 1024"), ("\ud800", "properties is not valid")]
    )
    message = m.viewed()
    message["properties"][m.forwarded] = value
    return dead(m, "forwarded_over_limit", json.dumps(message).encode(), reason)


# -- KPL aggregates ------------------------------------------------------------------------------------


def kpl_corrupt_sub(m: Maker) -> HostileRecord:
    """An aggregate whose sub-records are mostly fine: only the bad ones are dead-lettered."""
    payloads: list[bytes] = []
    parts: list[Part] = []
    for index in range(m.rng.randint(2, 6)):
        message = m.viewed()
        if index == 0 or m.rng.random() < 0.3:
            payload, reason = m.rng.choice(
                [
                    (json.dumps(message).encode()[:40], "invalid JSON"),
                    (b"\xff\xfe", "invalid UTF-8"),
                    (b"[]", "not a JSON object"),
                ]
            )
            parts.append(Part("kpl_corrupt_sub", payload, dead=True, reason=reason))
        else:
            payload = json.dumps(message).encode()
            parts.append(Part("kpl_corrupt_sub", payload, events=events_of(message)))
        payloads.append(payload)
    order = list(range(len(parts)))
    m.rng.shuffle(order)
    return aggregate([payloads[i] for i in order], [parts[i] for i in order])


def _whole(kind: str, payload: bytes, reason: str) -> HostileRecord:
    """An aggregate pue cannot open: one dead letter for the whole record, no sub-sequence number."""
    return HostileRecord(encoded(payload), "pk", (Part(kind, payload, dead=True, reason=reason),))


def kpl_bad_md5(m: Maker) -> HostileRecord:
    payloads = [json.dumps(m.viewed()).encode() for _ in range(3)]
    data = bytearray(lambda_events.kpl_aggregate(payloads, ["pk"] * 3))
    data[-1] ^= 0xFF
    return _whole("kpl_bad_md5", bytes(data), "corrupt KPL aggregate: md5 mismatch")


def kpl_bad_protobuf(m: Maker) -> HostileRecord:
    m.next_id()
    body = b"\x0a\xff\xff\xff\xff\x0f" + bytes(m.rng.randrange(256) for _ in range(20))
    payload = _KPL_MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
    return _whole("kpl_bad_protobuf", payload, "corrupt KPL aggregate: protobuf")


def kpl_truncated(m: Maker) -> HostileRecord:
    m.next_id()
    return _whole("kpl_truncated", _KPL_MAGIC + b"\x01\x02", "corrupt KPL aggregate: truncated")


def kpl_empty(m: Maker) -> HostileRecord:
    m.next_id()
    payload = _KPL_MAGIC + hashlib.md5(b"", usedforsecurity=False).digest()
    return _whole("kpl_empty", payload, "empty KPL aggregate")


def kpl_bad_key_index(m: Maker) -> HostileRecord:
    """A sub-record pointing past the partition key table: only that one is dead-lettered."""
    from consumers.stream.decode import _protobuf

    aggregated_record, _ = _protobuf()
    messages = [m.viewed() for _ in range(3)]
    payloads = [json.dumps(message).encode() for message in messages]
    record = aggregated_record()
    record.partition_key_table.append("pk")
    bad = m.rng.randrange(3)
    for index, payload in enumerate(payloads):
        sub = record.records.add()
        sub.partition_key_index = 99 if index == bad else 0
        sub.data = payload
    body = record.SerializeToString()
    data = _KPL_MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
    parts = tuple(
        Part("kpl_bad_key_index", p, dead=True, reason="corrupt KPL sub-record: partition key index")
        if i == bad
        else Part("kpl_bad_key_index", p, events=events_of(msg))
        for i, (p, msg) in enumerate(zip(payloads, messages, strict=True))
    )
    return HostileRecord(encoded(data), "pk", parts, aggregate=True)
