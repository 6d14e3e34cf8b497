"""`pue serve` keeps taking events while a backfill holds the store (issue 24): a POST /events made while a
replay's commit group holds the write lock succeeds, is queued in the live inbox, and is stored, learned and
counted once the backfill is over, in arrival order. Nothing here depends on timings: the lock is held for
as long as the test says."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.bootstrap.api import build_api
from consumers.cli.arguments import local_settings
from consumers.config.api_settings import ApiSettings
from consumers.web.contract import ApiRequest
from consumers.web.routes import Api
from destinations.local import LocalBackend, LocalStore
from destinations.local.live_inbox import LiveInbox, backfill_lock, backfill_running
from schemas.interaction import Interaction

KEY = "inbox-test-key-5b1c9e"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DEADLINE = 60.0


def event(n: int, user: str = "live-user") -> bytes:
    message = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"live-{n}",
        "userId": user,
        "anonymousId": f"anon-{user}",
        "timestamp": T0.replace(minute=n).isoformat(),
        "properties": {"product_id": f"p{n}"},
    }
    return json.dumps(message).encode()


def post(api: Api, body: bytes) -> tuple[int, dict[str, object]]:
    request = ApiRequest(
        "POST", "/events", headers={"x-api-key": KEY, "content-type": "application/json"}, body=body
    )
    response = api.handle(request)
    return response.status, json.loads(response.body)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose model knows a few items, so a list is not empty."""
    backend = LocalBackend.open(tmp_path / "state")
    try:
        with backend.store.transaction():
            seen = [
                Interaction(f"old-{n}", "Product Viewed", f"s{n % 3}", T0, f"u{n % 3}", f"p{n % 5}")
                for n in range(30)
            ]
            backend.recommender.learn(backend.store.add_interactions(seen))
    finally:
        backend.close()
    yield tmp_path / "state"


def stored_ids(state: Path, user: str) -> list[str]:
    with LocalStore.in_state_dir(state) as store:
        return [it.event_id for it in store.interactions_for(user)]


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {DEADLINE:.0f} s: {what}"
        time.sleep(0.05)


def test_post_events_during_a_held_commit_group_succeeds_and_is_stored_after_it(state: Path) -> None:
    api = build_api(local_settings(str(state)), ApiSettings(api_keys=(KEY,), cache_entries=0))
    replay_store = LocalStore.in_state_dir(state)  # the replay's own connection, as another process has
    try:
        with ExitStack() as backfill:
            backfill.enter_context(backfill_lock(state))
            backfill.enter_context(replay_store.commit_group())
            with replay_store.transaction() as conn:  # the group has written: it holds the write lock
                conn.execute("INSERT INTO items VALUES ('from-the-backfill', '{}')")
            assert backfill_running(state)
            answers = [post(api, event(n)) for n in range(3)]
            assert [status for status, _ in answers] == [200, 200, 200]
            assert all(isinstance(body["items"], list) for _, body in answers)
            assert stored_ids(state, "live-user") == []  # not in the store yet: queued
            inbox = LiveInbox(state)
            assert [message["messageId"] for _, message in inbox.oldest(10)] == ["live-0", "live-1", "live-2"]
            inbox.close()
        # The backfill committed and let go: the server's drain stores what it queued, in order.
        assert not backfill_running(state)
        wait_for(lambda: len(stored_ids(state, "live-user")) == 3, "the queued events in the store")
        assert stored_ids(state, "live-user") == ["live-0", "live-1", "live-2"]
        # Once the inbox is empty, events go straight to the store again, and the model has learned.
        wait_for(lambda: LiveInbox(state).pending() == 0, "an empty inbox")
        status, body = post(api, event(4))
        assert status == 200 and stored_ids(state, "live-user")[-1] == "live-4"
        status, body = post(api, event(5, user="u0"))
        assert status == 200 and body["items"]
    finally:
        replay_store.close()
        api.close()


def test_a_bad_event_during_a_backfill_is_refused_as_at_any_time(state: Path) -> None:
    api = build_api(local_settings(str(state)), ApiSettings(api_keys=(KEY,), cache_entries=0))
    try:
        with backfill_lock(state):
            status, body = post(api, b'{"type": "track", "event": "Product Viewed"}')  # no ids at all
            anonymous = json.loads(event(1))
            del anonymous["userId"]
            anonymous_status, _ = post(api, json.dumps(anonymous).encode())
            inbox = LiveInbox(state)
            queued = inbox.pending()
            inbox.close()
        assert status in (400, 422) and "error" in body
        assert anonymous_status in (400, 422)
        assert queued == 0  # nothing queued that the direct path would not have tracked
    finally:
        api.close()
