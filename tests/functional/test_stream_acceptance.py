"""The stream pipeline's acceptance scenario, through the `pue` CLI on the local backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consumers.cli import main
from tests.factories import kinesis_event, kpl_aggregate, segment_track


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def scenario() -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A Lambda event with every awkward case, and the event ids each user must end up with."""
    ts = "2026-11-02T10:00:{:02d}.250+01:00"
    order = segment_track(
        "Order Completed",
        user_id="buyer",
        properties={
            "order_id": "o1",
            "products": [{"product_id": f"sku-{k}", "price": 3} for k in range(12)],
        },
        message_id="order-1",
        timestamp=ts.format(1),
    )
    viewed = segment_track(
        "Product Viewed",
        user_id="viewer",
        properties={"product_id": "p1"},
        message_id="view-1",
        timestamp=ts.format(2),
    )
    redelivered = dict(viewed)  # Segment retried: same messageId, delivered again
    anonymous = segment_track(
        "Product Viewed",
        user_id=None,
        anonymous_id="anon-7",
        properties={"product_id": "p2"},
        message_id="anon-view",
        timestamp=ts.format(3),
    )
    numeric = segment_track(
        "Product Added",
        user_id=42,
        properties={"product_id": "p3"},
        message_id="num-1",
        timestamp=ts.format(4),
    )
    too_long = segment_track(
        "Product Viewed",
        user_id="viewer",
        properties={"product_id": "x" * 300},
        message_id="long-1",
        timestamp=ts.format(5),
    )
    in_kpl = [
        segment_track(
            "Product Viewed",
            user_id="kpl-user",
            properties={"product_id": f"k{k}"},
            message_id=f"kpl-{k}",
            timestamp=ts.format(10 + k),
        )
        for k in range(3)
    ]
    aggregate = kpl_aggregate([json.dumps(m).encode() for m in in_kpl], ["kpl-user"] * 3)
    event = kinesis_event(
        [
            order,
            viewed,
            redelivered,
            anonymous,
            numeric,
            too_long,
            aggregate,
            b"\xff\xfe not utf-8",
            b'{"type": "track", "event": "Product Vie',
            b"[1, 2, 3]",
        ]
    )
    event["Records"].append(
        {
            "eventID": "shardId-000000000000:9999",
            "kinesis": {"sequenceNumber": "9" * 20, "data": "%%% not base64 %%%", "partitionKey": "x"},
        }
    )
    expected = {
        "buyer": [f"order-1#{k}" for k in range(12)],
        "viewer": ["view-1"],
        "42": ["num-1"],
        "kpl-user": ["kpl-0", "kpl-1", "kpl-2"],
    }
    return event, expected


def test_awkward_batch_is_fully_accounted_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event, expected = scenario()
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    state = str(tmp_path / "state")

    code, out = run_cli(capsys, "replay", str(path), "--state", state)
    summary = json.loads(out.strip().splitlines()[-1])

    assert code == 0
    # 11 Kinesis records, one of them a KPL aggregate of 3: 13 user records.
    assert summary["records"] == 13
    assert summary == {
        "records": 13,
        "processed": 8,  # order, viewed, its redelivery, anonymous, numeric userId, 3 KPL sub-records
        "filtered": 0,
        "dead_lettered": 5,  # 300-char product id, bad UTF-8, truncated JSON, JSON array, bad base64
        "failed": 0,
        "interactions": 18,  # 12 products + viewed + anonymous + numeric + 3 KPL; the repeat is not resent
        "users_refreshed": 4,  # buyer, viewer, 42, kpl-user (anonymous sessions have no user to refresh)
        "timestamps_clamped": 0,
        "refresh": "batch",  # a saved Lambda event keeps Lambda's per-batch refreshes
        "refresh_failed": 0,
        "refresh_users": "batch",
        "users_not_refreshed": 0,
        "stopped": None,  # read to its end
    }
    assert (
        summary["records"]
        == summary["processed"] + summary["filtered"] + summary["dead_lettered"] + summary["failed"]
    )

    for user, event_ids in expected.items():
        code, out = run_cli(capsys, "profile", user, "--state", state)
        profile = json.loads(out)
        assert code == 0
        assert [i["eventId"] for i in profile["interactions"]] == event_ids, user
        # Written for every refreshed user (possibly empty: users are refreshed concurrently, so the
        # buyer may be refreshed before anyone else's items exist), never recommending what was bought.
        recommended = profile["traits"]["recommended_products"]
        if user == "buyer":
            assert not set(recommended) & {f"sku-{k}" for k in range(12)}
        else:
            assert recommended, user
        assert profile["endpointAttributes"], user

    # Replaying the same event again adds nothing.
    code, out = run_cli(capsys, "replay", str(path), "--state", state)
    again = json.loads(out.strip().splitlines()[-1])
    assert again["records"] == 13 and again["failed"] == 0
    code, out = run_cli(capsys, "profile", "buyer", "--state", state)
    assert len(json.loads(out)["interactions"]) == 12


def test_dead_letters_keep_the_original_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from destinations.local import LocalBackend

    event, _ = scenario()
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    run_cli(capsys, "replay", str(path), "--state", str(tmp_path))
    local = LocalBackend.open(tmp_path)
    raws = {letter.raw for letter in local.store.dead_letters(limit=50)}
    assert b"\xff\xfe not utf-8" in raws and b"[1, 2, 3]" in raws
    assert any(b"x" * 300 in raw for raw in raws)


def test_replay_reads_gzipped_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    lines = [
        json.dumps(
            segment_track(
                "Product Viewed", user_id=f"u{k}", properties={"product_id": "p"}, message_id=f"m{k}"
            )
        )
        for k in range(30)
    ]
    path = tmp_path / "archive.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines + ["not json at all"]) + "\n")
    code, out = run_cli(capsys, "replay", str(path), "--state", str(tmp_path), "--batch-size", "7")
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert summary["records"] == 31 and summary["processed"] == 30 and summary["dead_lettered"] == 1


def test_replay_of_a_missing_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(tmp_path / "nope.jsonl"), "--state", str(tmp_path)])
    assert code == 2
    assert "no such file" in capsys.readouterr().err
