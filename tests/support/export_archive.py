"""A small Segment archive with everything the export must get right, laid out as Segment's S3 destination.

Both export engines run on it (tests/functional/test_export_spark.py): the real Segment spec samples of
tests/samples, the demo clickstream (anonymous sessions, identifies later), visitors who browse anonymously
and identify in a LATER file, an alias, a shared device (two users for one anonymousId), e-commerce v2
product lists (Order Completed), repeated messageIds across files, identify traits whose types change, a
value over Personalize's categorical limit, bad lines (not JSON, not an object, no messageId, a line over
the 1 MB limit), a gzip file of several members with a corrupt one, and a file that is not history.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

from consumers.runners.sample_data import clickstream

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DAY1, DAY2, DAY3 = "1793491200000", "1793577600000", "1793664000000"  # received-day folders (epoch ms)


def _lines(messages: list[Any]) -> bytes:
    return b"".join((m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n" for m in messages)


def _track(message_id: str, event: str, props: dict[str, Any], **ids: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "messageId": message_id,
        "timestamp": "2026-11-02T10:00:00.000Z",
        "properties": props,
        **ids,
    }


def _samples() -> list[dict[str, Any]]:
    found = []
    for path in sorted(SAMPLES.glob("*.json")):
        message = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(message, dict):
            found.append(message)
    return found


def _visitors() -> tuple[list[Any], list[Any]]:
    """Anonymous browsing on day 2, the identify (and an alias, a shared device) on day 3."""
    browse: list[Any] = []
    for v in range(6):
        for n in range(3):
            browse.append(
                _track(
                    f"v{v}-{n}",
                    "Product Viewed",
                    {"product_id": f"P{n}", "category": ["shoes", "sale"][n % 2], "price": 10 + n},
                    anonymousId=f"anon-{v}",
                )
            )
    order = _track(
        "order-1",
        "Order Completed",
        {
            "order_id": "o1",
            "coupon": "x" * 1_001,  # over the 1,000-character categorical limit: counted, left empty
            "products": [
                {"product_id": "P1", "category": "shoes", "price": 12.5},
                {"product_id": "P7", "category": "hats", "price": 3},
                {"sku": "no-product-id"},
            ],
        },
        anonymousId="anon-0",
    )
    browse.append(order)
    later: list[Any] = [
        {
            "type": "identify",
            "messageId": "id-0",
            "anonymousId": "anon-0",
            "userId": "alice",
            "traits": {"plan": "pro", "age": 30},
        },
        {
            "type": "identify",
            "messageId": "id-1",
            "anonymousId": "anon-1",
            "userId": "bob",
            "traits": {"plan": "free", "age": 41.5},
        },
        {"type": "alias", "messageId": "al-2", "previousId": "anon-2", "userId": "carol"},
        {
            "type": "identify",
            "messageId": "id-3",
            "anonymousId": "anon-1",
            "userId": "dave",
            "traits": {"plan": ["a", "b"]},
        },  # shared device: bob was first
        {"type": "identify", "messageId": "id-4", "userId": "alice", "traits": {"plan": "team"}},
        {"type": "identify", "messageId": "id-5", "userId": "erin", "traits": {"plan": "p" * 1_001}},
        copy.deepcopy(browse[0]),  # a repeat of day 2's first message: one interaction only
    ]
    return browse, later


def _bad_lines() -> list[Any]:
    return [
        b"not json at all",
        b"[1, 2, 3]",
        {"type": "track", "event": "Product Viewed", "userId": "u", "properties": {"product_id": "P1"}},
        b'{"type": "track", "messageId": "' + b"m" * (1024 * 1024) + b'"}',
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": "ok-after-bad",
            "userId": "erin",
            "timestamp": "2026-11-02T10:00:00.000Z",
            "properties": {"product_id": "P3"},
        },
    ]


def build_archive(root: Path) -> Path:
    """Write the archive under ``root``/segment-logs/src (returned) and a README next to the day folders."""
    archive = root / "segment-logs" / "src"
    day1, day2, day3 = (archive / day for day in (DAY1, DAY2, DAY3))
    for day in (day1, day2, day3):
        day.mkdir(parents=True, exist_ok=True)
    stream = clickstream(users=40, seed=7)
    half = len(stream) // 2
    (day1 / "a.gz").write_bytes(gzip.compress(_lines(stream[:half])))
    (day1 / "b.json").write_bytes(_lines(_samples() + _bad_lines()))
    browse, later = _visitors()
    # Several gzip members in one file (what concatenated uploads give); the third is cut short, so the
    # rest of the file is unreadable: one dead letter, the lines before it kept.
    members = [gzip.compress(_lines(stream[half:])), gzip.compress(_lines(browse))]
    broken = gzip.compress(_lines([_track("lost-1", "Product Viewed", {"product_id": "P9"}, userId="zed")]))
    (day2 / "c.gz").write_bytes(b"".join(members) + broken[: len(broken) // 2])
    (day3 / "d.jsonl.gz").write_bytes(gzip.compress(_lines(later)))
    (archive / "README.txt").write_text("not history\n")
    return archive


EXPORT_ARGS = (
    "--user-fields",
    "plan,age",
    "--item-fields",
    "category,price",
    "--metadata",
    "coupon",
    "--event-value",
)
