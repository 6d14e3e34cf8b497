"""Issue 23's smaller findings (item 6): a lone surrogate in an event name, the state folder's modes,
parameter names echoed in errors, a catalog field over csv's limit. Each test failed on the code before.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from destinations.local import LocalBackend
from destinations.local.live_inbox import BACKFILL_LOCK_NAME, INBOX_FILE_NAME, LiveInbox, backfill_lock
from schemas.dead_letter import DeadLetter
from tests.functional.api_harness import Client, seed, with_key
from tests.functional.test_hostile_server_api import client, state  # noqa: F401  (the fixtures)

JSON = {"content-type": "application/json"}


def test_an_event_name_with_a_lone_surrogate_keeps_the_counts_and_logs_no_traceback(
    client: Client,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = client.request("GET", "/stats", headers=with_key()).json()
    body = json.dumps({"type": "track", "event": "E \ud800", "userId": "u-surrogate", "messageId": "m-s"})
    with caplog.at_level(logging.INFO):
        reply = client.request("POST", "/events", headers=with_key(JSON), body=body.encode())
    assert reply.status == 422  # an event the map does not track
    after = client.request("GET", "/stats", headers=with_key()).json()
    assert after["records"] == before["records"] + 1
    assert after["filtered"] == before["filtered"] + 1
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "colour", "filterValues"])
def test_an_unknown_parameter_name_is_not_echoed(client: Client, name: str) -> None:  # noqa: F811
    reply = client.request("GET", "/recommendations", query=f"userId=a-1&{name}=1", headers=with_key())
    assert reply.status == 400 and reply.error_code == "bad_request"
    assert name.encode() not in reply.body or name == "filterValues"  # the allowed prefix is named
    assert b"<script>" not in reply.body and b"colour" not in reply.body
    assert b"userId" in reply.body  # the allowed names, to spot a typo


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_the_local_backend_creates_is_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the common default, which gave 755 / 644 before
    try:
        fresh = tmp_path / "fresh"
        seed(fresh)  # interactions, items
        backend = LocalBackend.open(fresh)
        try:
            letter = DeadLetter(
                raw=b'{"secret": "raw bytes"}', reason="not json", shard_id="s", sequence_number="1"
            )
            backend.dead_letters.send([letter])
            created = sorted(fresh.iterdir())
            assert {p.name for p in created} >= {"pue.sqlite3", "pue.sqlite3-wal", "pue.sqlite3-shm"}
            assert _mode(fresh) == 0o700
            for path in created:
                assert _mode(path) == 0o600, path.name
        finally:
            backend.close()
    finally:
        os.umask(old_umask)


def test_the_live_inbox_and_the_backfill_lock_are_owner_only(tmp_path: Path) -> None:
    """The inbox holds raw client messages queued during a backfill (issue 24): as private as the store."""
    old_umask = os.umask(0o022)
    try:
        state_dir = tmp_path / "fresh"
        with backfill_lock(state_dir):
            inbox = LiveInbox(state_dir)
            try:
                inbox.put({"type": "track", "userId": "u", "event": "Product Viewed"}, received_at=0.0)
                created = {p.name: _mode(p) for p in state_dir.iterdir()}  # -wal, -shm go at close
            finally:
                inbox.close()
            assert set(created) >= {INBOX_FILE_NAME, INBOX_FILE_NAME + "-wal", BACKFILL_LOCK_NAME}
            assert _mode(state_dir) == 0o700
            assert created == dict.fromkeys(created, 0o600)
    finally:
        os.umask(old_umask)


def test_a_store_left_world_readable_is_narrowed_when_opened(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    database = old / "pue.sqlite3"
    database.touch(mode=0o644)
    os.chmod(database, 0o644)
    LocalBackend.open(old).close()
    assert _mode(database) == 0o600


def test_a_catalog_field_over_the_csv_limit_is_a_clear_error(tmp_path: Path) -> None:
    items = tmp_path / "items.csv"
    items.write_text("ITEM_ID,DESCRIPTION\nA1,short\nA2," + "x" * (128 * 1024 + 10) + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "consumers.cli",
            "catalog",
            "load",
            str(items),
            "--state",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "items.csv, line 3" in done.stderr and "131,072 characters" in done.stderr


def test_opening_the_store_again_keeps_the_first_connections_commits_visible_to_others(
    tmp_path: Path,
) -> None:
    """Making the file owner-only must not touch an open database: closing any descriptor of the file drops
    this process's POSIX locks on it, and then the first connection's later commits stayed invisible to
    other processes (pue serve opens the store more than once: POST /events seemed lost to the CLI)."""
    from destinations.local.store import LocalStore

    def tables_another_process_sees() -> set[str]:
        script = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
            "print(*[r[0] for r in c.execute(\"SELECT name FROM sqlite_master WHERE name LIKE 'probe%'\")])"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "pue.sqlite3")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return set(done.stdout.split())

    first = LocalStore.in_state_dir(tmp_path)
    try:
        with first.transaction() as conn:
            conn.execute("CREATE TABLE probe_before (x)")
        LocalStore.in_state_dir(tmp_path).close()  # a second open, as the server's routes do
        # Another process reads and closes: had this process lost its locks, that reader would be the last
        # connection it knows of, checkpoint and delete the WAL the first connection still writes to.
        assert tables_another_process_sees() == {"probe_before"}
        with first.transaction() as conn:
            conn.execute("CREATE TABLE probe_after (x)")
        assert tables_another_process_sees() == {"probe_before", "probe_after"}
    finally:
        first.close()
