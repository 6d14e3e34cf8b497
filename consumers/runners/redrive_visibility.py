"""Keeps the messages a redrive is working on hidden while it works (SQS ChangeMessageVisibilityBatch).

A message taken off the queue is hidden for ``--visibility-timeout`` seconds. A discarded batch can name a
long stretch of a shard, read back and run page by page for longer than that; the messages of the same
receive wait meanwhile. Were one to reappear, another consumer (or this run's next receive) would take it
again: double work, and a delete by a stale receipt handle that fails. So while messages are in hand, each
``beat`` (called between pages and between messages) extends them to a full timeout again once half of it
has passed. A message is let go (``done``) when its fate is settled: deleted, or left to reappear.

https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibilityBatch.html
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from destinations.aws.errors import translated
from schemas.errors import PueError
from schemas.limits import SQS_BATCH_MAX_ENTRIES

log = logging.getLogger("pue.redrive")
SERVICE: Final = "sqs"


class VisibilityHeartbeat:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        timeout_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._timeout = timeout_seconds
        self._clock = clock
        self._handles: dict[str, str] = {}  # message id -> receipt handle, still in hand
        self._since = clock()
        self.extended = 0  # ChangeMessageVisibility entries sent

    def hold(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Messages just received: hidden for a full timeout from now."""
        self._handles.update((str(m["MessageId"]), str(m["ReceiptHandle"])) for m in messages)
        self._since = self._clock()

    def done(self, message: Mapping[str, Any]) -> None:
        self._handles.pop(str(message["MessageId"]), None)

    def beat(self) -> None:
        """Extend every message in hand when half the timeout has passed since they were last hidden."""
        if not self._handles or self._clock() - self._since < self._timeout / 2:
            return
        handles = list(self._handles.values())
        for start in range(0, len(handles), SQS_BATCH_MAX_ENTRIES):
            entries = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": self._timeout}
                for i, handle in enumerate(handles[start : start + SQS_BATCH_MAX_ENTRIES])
            ]
            try:
                with translated(SERVICE):
                    response = self._sqs.change_message_visibility_batch(
                        QueueUrl=self._queue_url, Entries=entries
                    )
            except PueError as exc:  # the work goes on; at worst a message is taken twice (idempotent)
                log.warning("visibility not extended", extra={"fields": {"error": str(exc)}})
                continue
            failed = response.get("Failed") or []
            self.extended += len(entries) - len(failed)
            for failure in failed:
                log.warning("visibility not extended", extra={"fields": {"code": failure.get("Code")}})
        self._since = self._clock()
