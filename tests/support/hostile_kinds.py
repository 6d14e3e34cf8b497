"""The kinds of records ``HostileStream`` generates, each with the outcome pue must give it (see ``hostile``).

Reasons are the dead-letter reasons pue documents (``consumers.stream.decode``,
``consumers.stream.normalize``); a kind states how its reason starts, so a record dead-lettered for the wrong
reason fails the test too.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from consumers.runners import lambda_events
from tests.support.hostile import UNICODE_USERS, Event, HostileRecord, Part, encoded

_BASE_TIME: Final = datetime(2026, 11, 1, tzinfo=UTC)


class Maker:
    """Builds messages with unique ids and growing timestamps; remembers valid payloads to redeliver."""

    def __init__(self, rng: random.Random, users: tuple[str, ...], forwarded_property: str | None) -> None:
        self.rng = rng
        self.users = users
        self.forwarded = forwarded_property
        self.serial = 0
        self.delivered: list[tuple[bytes, Part]] = []

    def next_id(self) -> tuple[str, str]:
        self.serial += 1
        when = _BASE_TIME + timedelta(seconds=self.serial)
        return f"m{self.serial:07d}", when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def user(self) -> str:
        return self.rng.choice(self.users)

    def email(self) -> str:
        return f"shopper.{self.serial}+{self.rng.randrange(1000)}@example.com"

    def track(self, event: str, properties: Any, *, user_id: Any = None, **fields: Any) -> dict[str, Any]:
        message_id, timestamp = self.next_id()
        message: dict[str, Any] = {
            "type": "track",
            "event": event,
            "messageId": message_id,
            "timestamp": timestamp,
            "properties": properties,
            "context": {"traits": {"email": self.email()}, "ip": "203.0.113.7"},
            "userId": self.user() if user_id is None else user_id,
        }
        message.update(fields)
        return {name: value for name, value in message.items() if value is not ABSENT}

    def viewed(self, **fields: Any) -> dict[str, Any]:
        item = self.rng.choice([f"p-{self.rng.randrange(500)}", self.rng.randrange(10**6)])
        properties = {"product_id": item, "price": 9.5, "email": self.email()}
        return self.track("Product Viewed", properties, **fields)

    def record(self, kind: str, payload: bytes, part: Part, key: str = "pk") -> HostileRecord:
        if part.events and not part.dead:
            self.delivered.append((payload, part))
        return HostileRecord(encoded(payload), key[:256] or "pk", (part,))


ABSENT: Final = object()  # a field value meaning "leave the field out"


def _json(message: Any, *, ascii_only: bool = True) -> bytes:
    """JSON bytes, either all ASCII (``\\u`` escapes) or UTF-8 as most producers write it. A lone surrogate
    can only travel escaped."""
    text = json.dumps(message, ensure_ascii=False)
    if ascii_only or any("\ud800" <= char <= "\udfff" for char in text):
        return json.dumps(message).encode("ascii")
    return text.encode("utf-8")


def events_of(message: dict[str, Any], ids: list[str] | None = None) -> tuple[Event, ...]:
    user = message.get("userId")
    user_id = None if user is None else str(user)
    actor = user_id if user_id is not None else str(message["anonymousId"])
    return tuple(Event(event_id, actor, user_id) for event_id in (ids or [str(message["messageId"])]))


def tracked(m: Maker, kind: str, message: dict[str, Any], ids: list[str] | None = None) -> HostileRecord:
    payload = _json(message, ascii_only=m.rng.random() < 0.5)
    return m.record(
        kind, payload, Part(kind, payload, events=events_of(message, ids)), str(message.get("userId"))
    )


def filtered(m: Maker, kind: str, message: Any) -> HostileRecord:
    payload = _json(message)
    return m.record(kind, payload, Part(kind, payload))


def dead(m: Maker, kind: str, payload: bytes, reason: str) -> HostileRecord:
    return m.record(kind, payload, Part(kind, payload, dead=True, reason=reason))


# -- valid: tracked ------------------------------------------------------------------------------------


def viewed(m: Maker) -> HostileRecord:
    return tracked(m, "viewed", m.viewed())


def order(m: Maker) -> HostileRecord:
    products: list[Any] = []
    with_ids: list[int] = []
    for index in range(m.rng.randint(1, 12)):
        shape = m.rng.randrange(6)
        if shape <= 2 or index == 0:
            products.append({"product_id": f"sku-{m.rng.randrange(300)}", "price": 3, "quantity": 1})
            with_ids.append(index)
        elif shape == 3:
            products.append({"sku": m.rng.randrange(10**6)})
            with_ids.append(index)
        else:  # no usable id: skipped, the others are tracked
            products.append(
                m.rng.choice([{}, {"product_id": ""}, {"product_id": True}, "not-a-product", None])
            )
    message = m.track("Order Completed", {"order_id": "o1", "products": products, "total": 12.5})
    # Event ids name the product's index in the original list, so they survive any redelivery.
    return tracked(m, "order", message, [f"{message['messageId']}#{index}" for index in with_ids])


def anonymous(m: Maker) -> HostileRecord:
    message = m.viewed(userId=ABSENT, anonymousId=f"anon-{m.rng.randrange(60)}")
    return tracked(m, "anonymous", message)


def numeric_user(m: Maker) -> HostileRecord:
    return tracked(m, "numeric_user", m.viewed(user_id=10**9 + m.rng.randrange(20)))


def unicode_ids(m: Maker) -> HostileRecord:
    item = m.rng.choice(["商品-1", "מוצר-2", "zero\u200bwidth", "emoji-🛒", "\u202eevil"])
    # A lone surrogate in a property pue does not forward: harmless, the record is tracked.
    properties = {"product_id": item, "note": "\ud800 lone", "bidi": "\u202b\u05d0\u202c"}
    message = m.track("Product Added", properties, user_id=m.rng.choice(UNICODE_USERS))
    return tracked(m, "unicode", message)


def huge(m: Maker) -> HostileRecord:
    message = m.viewed()
    message["properties"]["blob"] = "x" * m.rng.randrange(20_000, 200_000)
    return tracked(m, "huge", message)


def nested(m: Maker) -> HostileRecord:
    value: Any = "bottom"
    for _ in range(m.rng.randrange(20, 300)):
        value = {"down": value} if m.rng.random() < 0.5 else [value]
    message = m.viewed()
    message["properties"]["tree"] = value
    return tracked(m, "nested", message)


def reviewed(m: Maker) -> HostileRecord:
    rating = m.rng.choice([4, "4.5", "lots", None, [5], 1e308, -0.0])
    message = m.track("Product Reviewed", {"product_id": "p-1", "rating": rating})
    return tracked(m, "reviewed", message)


def duplicate_keys(m: Maker) -> HostileRecord:
    message = m.viewed()
    text = _json(message).decode()
    # JSON with a repeated key: the last one wins, as in every mainstream parser.
    payload = ('{"userId": "decoy-user", ' + text[1:]).encode()
    return m.record("duplicate_keys", payload, Part("duplicate_keys", payload, events=events_of(message)))


def redelivered(m: Maker) -> HostileRecord:
    """A message Segment (or a producer) delivered again: same bytes, same event ids."""
    if not m.delivered:
        return viewed(m)
    payload, part = m.rng.choice(m.delivered)
    return HostileRecord(encoded(payload), "pk", (Part("redelivered", payload, events=part.events),))


def kpl_valid(m: Maker) -> HostileRecord:
    messages = [m.viewed() for _ in range(m.rng.randint(1, 5))]
    payloads = [_json(message) for message in messages]
    parts = [Part("kpl_valid", p, events=events_of(msg)) for p, msg in zip(payloads, messages, strict=True)]
    return aggregate(payloads, parts)


def aggregate(payloads: list[bytes], parts: list[Part]) -> HostileRecord:
    """A real KPL aggregate of ``payloads``; ``parts[i]`` is what sub-record ``i`` must become."""
    keys = [lambda_events.partition_key_of(p) for p in payloads]
    data = lambda_events.kpl_aggregate(payloads, keys)
    return HostileRecord(encoded(data), keys[0], tuple(parts), aggregate=True)


# -- valid: filtered (a Segment message pue does not track) -------------------------------------------


def identify(m: Maker) -> HostileRecord:
    message_id, timestamp = m.next_id()
    traits = {"email": m.email(), "name": "Ada Lovelace", "phone": "+44 20 7946 0000"}
    message = {"type": "identify", "userId": m.user(), "messageId": message_id, "timestamp": timestamp}
    return filtered(m, "identify", {**message, "traits": traits})


def unmapped(m: Maker) -> HostileRecord:
    name = m.rng.choice(["Cart Viewed", "Signed In 🙂", "\ud800 lone", "x" * 500, f"Sent to {m.email()}"])
    return filtered(m, "unmapped", m.track(name, {"product_id": "p-1"}))


def no_item(m: Maker) -> HostileRecord:
    properties = m.rng.choice(
        [{}, {"product_id": ""}, {"product_id": None}, [], "a string", {"products": []}]
    )
    return filtered(m, "no_item", m.track("Product Viewed", properties))


def other_types(m: Maker) -> HostileRecord:
    message = m.viewed()
    message["type"] = m.rng.choice(["page", "screen", "alias", "group"])
    return filtered(m, "other_types", message)


def wrong_property_types(m: Maker) -> HostileRecord:
    """Values of the wrong type where pue only reads optionally: dropped, the event still tracked."""
    message = m.viewed()
    message["properties"].update(price="free", recommendation_id=["r"], impression="p-1,p-2", products="p-3")
    message["context"] = ["not", "an", "object"]
    return tracked(m, "wrong_property_types", message)


def big_numbers(m: Maker) -> HostileRecord:
    message = m.viewed()
    message["properties"].update(big=10**200, tiny=5e-324, huge_float=1.7e308, negative_zero=-0.0)
    return tracked(m, "big_numbers", message)
