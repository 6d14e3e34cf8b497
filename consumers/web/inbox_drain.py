"""Drains the live inbox (destinations/local/live_inbox.py) once no backfill holds the store.

A thread of ``pue serve``: every ``INTERVAL_SECONDS`` it looks at the inbox; when it has messages and no
backfill is running, it tracks them in arrival order through ``Pipeline.track_and_refresh`` (the path
``POST /events`` takes: tracked, learned, refreshed, counted), then removes each. A message the pipeline
refuses for good (filtered, no user) is done: it was counted, as on the direct path. A retryable failure
(the store busy again: another writer started) or a deployment error (loud) leaves it, and what follows it,
for the next round. Messages
left by a server that stopped are drained when the next one starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final

from consumers.stream.pipeline import Pipeline
from destinations.local.live_inbox import LiveInbox, backfill_running
from schemas.errors import ConfigError, PermanentError, RetryableError

log = logging.getLogger("pue.inbox")

INTERVAL_SECONDS: Final = 0.5
ROUND: Final = 100  # messages per round: bounds what a stop waits for


class InboxDrain:
    """``start()`` the thread, ``close()`` to stop it (after the message in flight). ``drain_once`` is the
    round itself (tests call it directly)."""

    def __init__(self, inbox: LiveInbox, pipeline: Pipeline, on_tracked: Callable[[], None]) -> None:
        self._inbox = inbox
        self._pipeline = pipeline
        self._on_tracked = on_tracked  # e.g. invalidate the API's cache
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pue-inbox-drain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def drain_once(self) -> int:
        """Track the inbox's oldest messages unless a backfill runs; the number tracked or refused."""
        done = 0
        while not self._stop.is_set() and not backfill_running(self._inbox.state_dir):
            batch = self._inbox.oldest(ROUND)
            if not batch:
                break
            for seq, message in batch:
                try:
                    self._pipeline.track_and_refresh(message)
                except (RetryableError, ConfigError) as exc:  # kept, in order, for the next round
                    level = logging.ERROR if isinstance(exc, ConfigError) else logging.INFO
                    log.log(level, "inbox drain paused", extra={"fields": {"reason": str(exc)[:200]}})
                    return done
                except PermanentError:
                    pass  # filtered or no user: counted (or refused) as POST /events would have been
                self._inbox.remove(seq)
                done += 1
            self._on_tracked()
        return done

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            try:
                self.drain_once()
            except Exception:  # the next round tries again; a bug must not end the thread silently
                log.exception("inbox drain failed")
