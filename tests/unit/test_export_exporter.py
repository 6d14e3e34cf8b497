"""The export run: stream normalization, dedupe, identity linking, datasets, dead letters, accounting."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from consumers.onboarding.export.exporter import (
    ANONYMOUS,
    NEVER_IDENTIFIED,
    ExportOptions,
    _Export,
    export,
)
from consumers.onboarding.export.reader import CORRUPT_GZIP, VANISHED, InputError, LineReader
from consumers.onboarding.export.summary import ExportSummary
from consumers.stream.event_map import EventMap
from schemas.errors import ConfigError
from tests.factories import segment_identify, segment_track

T0 = "2026-11-01T12:00:00.750Z"  # 1793534400 seconds (and 750 ms)
T0_SECONDS = "1793534400"


def write_lines(path: Path, items: list[Any]) -> Path:
    text = "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)
    path.write_text(text, encoding="utf-8")
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def run(tmp_path: Path, messages: list[Any], **options: Any) -> tuple[ExportSummary, Path]:
    source = write_lines(tmp_path / "history.jsonl", messages)
    out = tmp_path / "out"
    summary = export([source], out, ExportOptions(EventMap.default(), scratch_dir=tmp_path, **options))
    return summary, out


def viewed(product: str, user: str | None = "u1", anonymous: str | None = None, **kw: Any) -> dict[str, Any]:
    props = {"product_id": product, "category": "shoes", "price": 10.5}
    return segment_track(
        "Product Viewed", user_id=user, anonymous_id=anonymous, properties=props, timestamp=T0, **kw
    )


def test_messages_become_rows_deduplicated_by_event_id_and_every_message_is_counted(tmp_path: Path) -> None:
    order = segment_track(
        "Order Completed",
        user_id="u2",
        properties={
            "order_id": "o1",
            "category": "order-level, not an item's",
            "products": [
                {"product_id": "P7", "category": "bags", "price": 30},
                {"sku": "S-9", "category": ["kitchen", "garden"]},
                {"name": "no id, skipped"},
            ],
        },
        message_id="order-1",
        timestamp=T0,
    )
    first = viewed("P1", message_id="view-1")
    summary, out = run(
        tmp_path,
        [
            first,
            first,
            order,
            order,
            "not json",
            "[1]",
            {"type": "track", "event": "Product Viewed"},
            viewed("P1"),
        ],
    )

    got = [
        (r["USER_ID"], r["ITEM_ID"], r["EVENT_TYPE"], r["TIMESTAMP"]) for r in rows(out / "interactions.csv")
    ]
    assert got == [
        ("u1", "P1", "Product Viewed", T0_SECONDS),
        ("u2", "P7", "Order Completed", T0_SECONDS),
        ("u2", "S-9", "Order Completed", T0_SECONDS),
        ("u1", "P1", "Product Viewed", T0_SECONDS),  # another view of P1: another message id
    ]
    assert (summary.messages, summary.tracked, summary.filtered, summary.dead_lettered) == (8, 5, 0, 3)
    assert summary.balanced
    assert (summary.interactions, summary.duplicates) == (4, 3)
    assert summary.dead_letter_reasons == {
        "invalid JSON: Expecting value": 1,
        "not a JSON object (array)": 1,
        "no messageId": 1,
    }
    # a product's own properties describe it, never the order's
    assert rows(out / "items.csv") == [
        {"ITEM_ID": "P1", "CATEGORY": "shoes", "PRICE": "10.5"},
        {"ITEM_ID": "P7", "CATEGORY": "bags", "PRICE": "30"},
        {"ITEM_ID": "S-9", "CATEGORY": "kitchen|garden", "PRICE": ""},
    ]
    letters = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert [(letter["line"], letter["reason"], letter["raw"]) for letter in letters][:2] == [
        (5, "invalid JSON: Expecting value", "not json"),
        (6, "not a JSON object (array)", "[1]"),
    ]
    assert summary.items == 3
    assert sorted(p.name for p in out.iterdir()) == [
        "dead_letters.jsonl",
        "interactions.csv",
        "interactions.schema.json",
        "items.csv",
        "items.schema.json",
    ]


def test_anonymous_events_before_an_identify_are_attributed_to_its_user(tmp_path: Path) -> None:
    messages = [
        viewed("P1", user=None, anonymous="anon-1"),  # browsing before signing in
        viewed("P2", user=None, anonymous="anon-2"),  # never signs in
        {**segment_identify("alice", {"plan": "pro"}), "anonymousId": "anon-1"},
        viewed("P3", user="alice", anonymous="anon-1"),
    ]
    summary, out = run(tmp_path, messages)

    got = [(r["USER_ID"], r["ITEM_ID"]) for r in rows(out / "interactions.csv")]
    assert got == [("alice", "P3"), ("alice", "P1")]  # parked rows come after the input ends
    assert summary.linked == 1
    assert summary.dropped == {NEVER_IDENTIFIED: 1}
    assert (summary.users, summary.active_users) == (1, 1)
    assert summary.filter_reasons == {"identify not tracked": 1}


def test_without_identity_linking_anonymous_events_are_dropped_and_counted(tmp_path: Path) -> None:
    messages = [
        viewed("P1", user=None, anonymous="anon-1"),
        {**segment_identify("alice"), "anonymousId": "anon-1"},
    ]
    summary, out = run(tmp_path, messages, link_identities=False)
    assert rows(out / "interactions.csv") == []
    assert summary.dropped == {ANONYMOUS: 1}


def test_event_value_metadata_and_user_traits_become_columns(tmp_path: Path) -> None:
    review = segment_track(
        "Product Reviewed",
        properties={"product_id": "P1", "rating": "4.5", "discount_code": "SPRING", "device": "ios"},
        timestamp=T0,
    )
    messages = [
        review,
        segment_identify("u1", {"plan": "free", "address": {"country": "FR"}, "email": "u1@example.com"}),
        segment_identify("u1", {"plan": "pro", "interests": ["a", "b"]}, message_id="later"),
        segment_identify("u2", {"email": "only@example.com"}),
    ]
    summary, out = run(
        tmp_path,
        messages,
        event_value=True,
        metadata=("discount_code", "device"),
        user_fields=("plan", "address.country", "interests"),
        item_fields=(),
    )

    assert rows(out / "interactions.csv") == [
        {
            "USER_ID": "u1",
            "ITEM_ID": "P1",
            "EVENT_TYPE": "Product Reviewed",
            "TIMESTAMP": T0_SECONDS,
            "EVENT_VALUE": "4.5",
            "DISCOUNT_CODE": "SPRING",
            "DEVICE": "ios",
        }
    ]
    # the last identify wins field by field; a user with none of the fields has no row
    assert rows(out / "users.csv") == [
        {"USER_ID": "u1", "PLAN": "pro", "ADDRESS_COUNTRY": "FR", "INTERESTS": "a|b"}
    ]
    assert summary.user_rows == 1
    assert not (out / "items.csv").exists()
    schema = json.loads((out / "interactions.schema.json").read_text())
    assert [f["name"] for f in schema["fields"]] == list(rows(out / "interactions.csv")[0])
    assert schema["fields"][4] == {"name": "EVENT_VALUE", "type": ["float", "null"]}
    assert schema["fields"][5] == {"name": "DISCOUNT_CODE", "type": ["string", "null"], "categorical": True}
    assert "email" not in (out / "users.csv").read_text()


def test_a_failed_export_leaves_no_dataset_that_looks_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_lines(tmp_path / "a.jsonl", [viewed("P1")])
    locked = write_lines(tmp_path / "b.jsonl", [viewed("P2")])
    real_open = LineReader._open

    def refuse(reader: LineReader, path: Path) -> Any:  # an unreadable input: the operator must act
        if path == locked:
            raise PermissionError(13, "Permission denied")
        return real_open(reader, path)

    monkeypatch.setattr(LineReader, "_open", refuse)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="b.jsonl: cannot read: Permission denied"):
        export([good, locked], out, ExportOptions(EventMap.default(), scratch_dir=tmp_path / "scratch"))
    assert list(out.iterdir()) == []
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_corrupt_gzip_and_a_vanished_file_are_dead_lettered_and_the_export_goes_on(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(json.dumps(viewed(f"P{i}")).encode() + b"\n" for i in range(200)))
    broken = tmp_path / "b.gz"
    broken.write_bytes(gzip.compress(json.dumps(viewed("P0")).encode() + b"\n") + whole[: len(whole) // 2])
    vanished = write_lines(tmp_path / "c.jsonl", [viewed("P9")])
    later = write_lines(tmp_path / "d.jsonl", [viewed("P1")])
    out = tmp_path / "out"
    inputs = [broken, vanished, later]
    reader = LineReader(inputs)
    vanished.unlink()  # listed, then gone before it is read
    run = _Export(out, ExportOptions(EventMap.default(), scratch_dir=tmp_path))
    run.consume(reader, None)
    run.finish()
    summary = run.summary

    assert summary.dead_letter_reasons == {CORRUPT_GZIP: 1, VANISHED: 1}
    assert summary.balanced and summary.tracked == summary.messages - 2
    letters = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert [(Path(d["file"]).name, d["reason"], d["raw"]) for d in letters] == [
        ("b.gz", CORRUPT_GZIP, None),
        ("c.jsonl", VANISHED, None),
    ]
    assert letters[0]["line"] > 1  # the first member's line and the readable part of the second were kept
    assert {r["ITEM_ID"] for r in rows(out / "interactions.csv")} >= {"P0", "P1"}


def test_a_stale_dead_letter_file_from_an_earlier_run_is_removed(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "dead_letters.jsonl").write_text("old\n")
    summary, out = run(tmp_path, [viewed("P1")])
    assert summary.dead_lettered == 0
    assert not (out / "dead_letters.jsonl").exists()


def test_unusable_field_names_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EVENT_TYPE, which is already a reserved field"):
        run(tmp_path, [viewed("P1")], metadata=("event_type",))
    with pytest.raises(ConfigError, match="at most 5"):
        run(tmp_path, [viewed("P1")], metadata=("a", "b", "c", "d", "e", "f"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("chunk", [1, 2_000])  # the same result within one chunk and across chunks
def test_an_items_fields_keep_their_last_known_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr("consumers.onboarding.export.exporter.CHUNK_LINES", chunk)

    def added(props: dict[str, Any], second: int) -> dict[str, Any]:
        stamp = f"2026-11-01T12:00:{second:02d}.000Z"
        return segment_track("Product Added", properties={"product_id": "P1", **props}, timestamp=stamp)

    messages = [
        added({"category": "shoes", "price": 10}, 1),
        added({"category": "boots"}, 2),  # no price: the earlier one stays
        added({"price": 12, "category": ""}, 3),  # an empty category is no value
    ]
    _, out = run(tmp_path, messages)
    assert rows(out / "items.csv") == [{"ITEM_ID": "P1", "CATEGORY": "boots", "PRICE": "12"}]
