"""`pue replay` as a backfill: every record tracked and accounted, each user refreshed once, at the end."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.bootstrap.stream import build_pipeline
from consumers.cli import local_commands, main
from consumers.cli.local_commands import BACKFILL_BATCH_SIZE
from consumers.cli.replay_report import EXIT_INPUT_INCOMPLETE
from consumers.config.settings import Settings
from consumers.runners import backfill as backfill_module
from consumers.runners import replay_input
from consumers.runners.backfill import backfill
from consumers.runners.lambda_events import lambda_events
from consumers.runners.replay import events_from, replay
from destinations.local.store import LocalStore
from destinations.local.transactions import GroupLost
from schemas.delivery import DeliveryReport
from schemas.errors import RetryableError
from schemas.limits import LAMBDA_KINESIS_MAX_BATCH_RECORDS
from schemas.recommendation import Recommendation
from tests.support.replay_store import store_rows

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class RecordingSink:
    """Keeps every publish call as made; fails the users in ``failing``."""

    name = "recording"
    takes_anonymous = False

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.calls: list[list[Recommendation]] = []
        self.failing = failing

    def publish(self, recommendations: Sequence[Recommendation]) -> DeliveryReport:
        self.calls.append(list(recommendations))
        return DeliveryReport(
            failed={r.user_id: RetryableError("down") for r in recommendations if r.user_id in self.failing}
        )


def messages() -> list[dict[str, Any]]:
    """u1 views A then B in many batches; u2 views A, C; one line is not JSON (dead-lettered)."""
    out = []
    for n, (user, item) in enumerate([("u1", "A"), ("u2", "A"), ("u1", "B"), ("u2", "C")] * 3):
        out.append(
            {
                "type": "track",
                "event": "Product Viewed",
                "messageId": f"m{n}",
                "userId": user,
                "anonymousId": f"s-{user}",
                "timestamp": (T0 + timedelta(minutes=n)).isoformat(),
                "properties": {"product_id": item},
            }
        )
    return out


def events(batch_size: int = 2) -> list[dict[str, Any]]:
    payloads = [json.dumps(m).encode() for m in messages()] + [b"not json"]
    return list(lambda_events(payloads, batch_size=batch_size))


def test_a_backfill_refreshes_each_user_once_after_the_last_batch(tmp_path: Path) -> None:
    pipeline, wiring = build_pipeline(Settings(backend="local", state_dir=tmp_path))
    sink = RecordingSink()
    pipeline.sinks = (sink,)
    try:
        result = backfill(iter(events()), pipeline)
    finally:
        pipeline.close()
    counts = result.counts
    assert (counts.records, counts.processed, counts.dead_lettered, counts.failed) == (13, 12, 1, 0)
    assert counts.interactions == 12
    assert counts.users_refreshed == 2 and result.refresh_failed == 0
    published = Counter(r.user_id for call in sink.calls for r in call)
    assert published == {"u1": 1, "u2": 1}
    # The list comes from the whole archive: u1 saw A and B, u2 saw A and C, so u1 gets C first.
    u1 = next(r for call in sink.calls for r in call if r.user_id == "u1")
    assert u1.item_ids[0] == "C"
    assert u1.refresh_key == "m10"  # u1's last event id: deterministic sink message ids
    assert wiring.local is not None and wiring.local.store.interaction_count() == 12


def test_batch_semantics_refresh_a_user_in_every_batch_they_appear_in(tmp_path: Path) -> None:
    pipeline, wiring = build_pipeline(Settings(backend="local", state_dir=tmp_path))
    sink = RecordingSink()
    pipeline.sinks = (sink,)
    assert wiring.local is not None
    pipeline.batch_scope = wiring.local.tracker.batch
    try:
        counts = replay(iter(events()), pipeline)
    finally:
        pipeline.close()
    published = Counter(r.user_id for call in sink.calls for r in call)
    assert published == {"u1": 6, "u2": 6}
    assert counts.users_refreshed == 12 and counts.processed == 12
    # Each refresh sees its own batch already learned: the first batch is u1 A, u2 A, and the model was
    # empty before it, so u1's first list holds A (seen, the only item known) rather than nothing.
    first_u1 = sink.calls[0][0]
    assert first_u1.user_id == "u1" and first_u1.item_ids == ("A",)


def test_a_failed_final_refresh_is_reported_not_lost(tmp_path: Path) -> None:
    pipeline, _ = build_pipeline(Settings(backend="local", state_dir=tmp_path))
    pipeline.sinks = (RecordingSink(failing=frozenset({"u2"})),)
    try:
        result = backfill(iter(events()), pipeline)
    finally:
        pipeline.close()
    assert result.counts.users_refreshed == 1
    assert result.refresh_failures == {"a sink failed (see the log)": 1}


@pytest.mark.parametrize("as_lambda_event", [False, True])
def test_the_summary_says_which_refresh_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_lambda_event: bool
) -> None:
    source = tmp_path / "input.json"
    if as_lambda_event:
        records = [r for event in events(batch_size=100) for r in event["Records"]]
        source.write_text(json.dumps({"Records": records}), encoding="utf-8")
    else:
        source.write_text("".join(json.dumps(m) + "\n" for m in messages()), encoding="utf-8")
    code = main(["replay", str(source), "--state", str(tmp_path / "state")])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert summary["refresh"] == ("batch" if as_lambda_event else "end")
    assert summary["refresh_failed"] == 0
    assert summary["users_refreshed"] == 2
    assert summary["processed"] == 12


def test_replaying_the_same_archive_twice_changes_nothing(tmp_path: Path) -> None:
    def model_rows() -> list[tuple[object, ...]]:
        assert wiring.local is not None
        with wiring.local.store.transaction(write=False) as conn:
            return [
                row
                for table in ("model_items", "model_history", "model_pairs", "model_meta", "interactions")
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608
            ]

    pipeline, wiring = build_pipeline(Settings(backend="local", state_dir=tmp_path))
    pipeline.sinks = (RecordingSink(),)
    try:
        backfill(iter(events()), pipeline)
        first = model_rows()
        again = backfill(iter(events()), pipeline)
        assert model_rows() == first
    finally:
        pipeline.close()
    assert again.counts.processed == 12 and again.counts.failed == 0


def test_a_backfill_reads_an_archive_in_lambdas_largest_batches(tmp_path: Path) -> None:
    """Each batch is one store transaction and one learning pass: a file is not cut into smaller ones."""
    source = tmp_path / "archive.jsonl"
    line = json.dumps(messages()[0]) + "\n"
    source.write_text(line * 12_345, encoding="utf-8")
    sizes = [
        len(event["Records"]) for event in events_from(source, BACKFILL_BATCH_SIZE) if isinstance(event, dict)
    ]
    assert BACKFILL_BATCH_SIZE == LAMBDA_KINESIS_MAX_BATCH_RECORDS
    assert sizes == [10_000, 2_345]


def archive_lines(count: int) -> str:
    lines = []
    for n in range(count):
        message = {**messages()[n % 12], "messageId": f"a{n}", "userId": f"u{n % 7}"}
        message["properties"] = {"product_id": f"p{(n * 5) % 11}"}
        lines.append(json.dumps(message) + "\n")
    return "".join(lines) + "not json\n"


def test_commit_groups_leave_the_store_a_commit_per_batch_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "archive.jsonl"
    source.write_text(archive_lines(300), encoding="utf-8")
    summaries = []
    for name, commit_records in (("per-batch", 1), ("one-group", 10**9), ("groups-of-3", 30)):
        monkeypatch.setattr(local_commands, "BACKFILL_COMMIT_RECORDS", commit_records)
        args = [
            "replay",
            str(source),
            "--state",
            str(tmp_path / name),
            "--batch-size",
            "10",
            "--workers",
            "0",
        ]
        assert main(args) == 0
        summaries.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert summaries[0] == summaries[1] == summaries[2]
    assert summaries[0]["processed"] == 300 and summaries[0]["dead_lettered"] == 1
    per_batch = store_rows(tmp_path / "per-batch")
    assert len(per_batch["interactions"]) == 300 and per_batch["model_pairs"]
    assert store_rows(tmp_path / "one-group") == per_batch
    assert store_rows(tmp_path / "groups-of-3") == per_batch


def test_a_truncated_archive_keeps_the_batches_read_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The input fails inside an open commit group: the group's finished batches are committed."""
    whole = gzip.compress(archive_lines(3_000).encode())
    source = tmp_path / "truncated.jsonl.gz"
    source.write_bytes(whole[: len(whole) // 2])
    monkeypatch.setattr(local_commands, "BACKFILL_COMMIT_RECORDS", 10**9)
    monkeypatch.setattr(replay_input, "READ_CHUNK", 100)  # lines read (and batched) before the break
    state = tmp_path / "state"
    code = main(["replay", str(source), "--state", str(state), "--batch-size", "100", "--workers", "0"])
    captured = capsys.readouterr()
    assert code == EXIT_INPUT_INCOMPLETE and "cannot decompress" in captured.err
    kept = len(store_rows(state)["interactions"])
    assert kept > 0 and kept % 100 == 0  # whole batches, each tracked before the file broke off
    # The summary says what was kept, and that the input was not read to its end.
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["stopped"] == "input ended early"
    assert summary["interactions"] == kept and summary["processed"] == kept
    assert f"the {kept:,} records of the batches that completed are kept" in captured.err


def test_a_lost_commit_group_fails_the_replay_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @contextmanager
    def lost(store: LocalStore) -> Iterator[None]:
        yield
        raise GroupLost("the local store rolled back a commit group (disk full): replay the input again")

    monkeypatch.setattr(LocalStore, "commit_group", lost)
    source = tmp_path / "archive.jsonl"
    source.write_text(archive_lines(30), encoding="utf-8")
    code = main(["replay", str(source), "--state", str(tmp_path / "state"), "--workers", "0"])
    captured = capsys.readouterr()
    assert code == 1 and "pue replay: the local store rolled back" in captured.err
    assert captured.out == ""  # no summary claims records that were not kept


def test_the_refresh_rate_counts_from_the_refresh_not_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    clock = iter([0.0, 100.0, 100.0, 101.0])  # made at the replay's start; the refresh starts 100 s later
    monkeypatch.setattr("consumers.runners.backfill.time.perf_counter", lambda: next(clock))
    out = Terminal()
    show = backfill_module.print_refresh_progress(out)
    show(0, 1000)
    show(500, 1000)
    assert out.getvalue().split("\r")[-1] == "  refreshed      500 of 1000 users      500 users/s"


def test_a_batch_whose_storing_fails_at_its_end_is_reported_for_retry_not_lost(tmp_path: Path) -> None:
    """The local tracker stores and learns a batch when its scope ends: a failure there (a full disk) keeps
    nothing of the batch, so every valid record is failed (retried); the bad line is still dead-lettered."""
    pipeline, wiring = build_pipeline(Settings(backend="local", state_dir=tmp_path))
    assert wiring.local is not None
    tracker = wiring.local.tracker

    @contextmanager
    def failing_scope() -> Iterator[None]:
        with tracker.batch():
            yield
            raise RetryableError("database or disk is full", service="local-store")

    pipeline.sinks = (RecordingSink(),)
    pipeline.batch_scope = failing_scope
    try:
        counts = replay(iter(events(batch_size=100)), pipeline)
    finally:
        pipeline.close()
    assert (counts.records, counts.failed, counts.processed, counts.dead_lettered) == (13, 12, 0, 1)
    assert wiring.local.store.interaction_count() == 0


def visitors_archive(path: Path) -> Path:
    """u-heavy-0..2 with 4 events each, visitors v0..v9 with 1 or 2 (v0 and v5: 2)."""
    lines = []
    for n in range(12):
        lines.append({"user": f"u-heavy-{n % 3}", "item": f"p{n % 5}"})
    for n in range(10):
        lines.append({"user": f"v{n}", "item": f"p{n % 5}"})
    lines += [{"user": "v0", "item": "p1"}, {"user": "v5", "item": "p2"}]
    messages_ = [
        {
            **messages()[0],
            "messageId": f"v-{n}",
            "userId": line["user"],
            "properties": {"product_id": line["item"]},
        }
        for n, line in enumerate(lines)
    ]
    path.write_text("".join(json.dumps(m) + "\n" for m in messages_), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("choice", "refreshed"),
    [(None, {"u-heavy-0", "u-heavy-1", "u-heavy-2"}), ("all", None), ("none", set())],
)
def test_refresh_users_chooses_who_is_refreshed_at_the_end_and_the_summary_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], choice: str | None, refreshed: set[str] | None
) -> None:
    source = visitors_archive(tmp_path / "visitors.jsonl")
    state = tmp_path / "state"
    extra = [] if choice is None else ["--refresh-users", choice]
    code = main(["replay", str(source), "--state", str(state), "--workers", "0", *extra])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    users = {f"u-heavy-{n}" for n in range(3)} | {f"v{n}" for n in range(10)}
    expected = users if refreshed is None else refreshed
    assert code == 0
    assert summary["refresh_users"] == (choice or "active")  # every sink is local: active by default
    assert summary["users_refreshed"] == len(expected)
    assert summary["users_not_refreshed"] == len(users) - len(expected)
    with LocalStore.in_state_dir(state) as store:  # the refreshed users' lists were written to the sinks
        assert {user for user in users if store.traits_for(user)} == expected
        assert store.interaction_count() == 24  # every event tracked whoever is refreshed
    if expected != users:
        assert f"not refreshed: {len(users) - len(expected):,} users" in captured.err


def test_replay_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    for status in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert f"\n  {status}" in out
    assert "143 by SIGTERM" in out and "the input ended early" in out and "--refresh-users" in out


def test_active_users_are_the_most_active_with_at_least_3_events_at_most_1000() -> None:
    tracked = {f"u{n:04d}": 3 + n % 7 for n in range(1_500)} | {"once": 1, "twice": 2}
    chosen = backfill_module.chosen_users(tracked, "active")
    assert len(chosen) == backfill_module.ACTIVE_MAX_USERS == 1_000
    assert min(tracked[user] for user in chosen) >= max(tracked[user] for user in set(tracked) - chosen)
    assert "once" not in chosen and "twice" not in chosen
    assert backfill_module.chosen_users({"once": 1, "busy": 3}, "active") == {"busy"}
    assert backfill_module.chosen_users(tracked, "all") == set(tracked)
    assert backfill_module.chosen_users(tracked, "none") == set()


def test_the_main_process_gives_back_its_page_cache_after_tracking_before_the_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The replay's peak RSS was its main process's 64 MB tracking cache beside the refresh workers.
    source = tmp_path / "archive.jsonl"
    source.write_text(archive_lines(300), encoding="utf-8")
    calls: list[tuple[object, ...]] = []
    release = LocalStore.release_cache

    def recording(store: LocalStore, kib: int) -> None:
        with sqlite3.connect(store.path) as other:  # what is committed at that moment
            stored = other.execute("SELECT COUNT(*) FROM interactions").fetchone()[0]
            traits = other.execute("SELECT COUNT(*) FROM traits").fetchone()[0]
        release(store, kib)
        with store.transaction(write=False) as conn:
            calls.append((kib, stored, traits, conn.execute("PRAGMA cache_size").fetchone()[0]))

    monkeypatch.setattr(LocalStore, "release_cache", recording)
    state = tmp_path / "state"
    assert main(["replay", str(source), "--state", str(state), "--batch-size", "10", "--workers", "0"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    kib = local_commands.REFRESH_MAIN_CACHE_KIB
    assert calls == [(kib, 300, 0, -kib)]  # every batch committed, no list written yet
    assert summary["users_refreshed"] == 7
    with sqlite3.connect(state / "pue.sqlite3") as conn:  # the refresh ran after it
        assert conn.execute("SELECT COUNT(DISTINCT user_id) FROM traits").fetchone()[0] == 7
