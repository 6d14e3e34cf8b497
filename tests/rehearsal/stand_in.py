"""What the rehearsal's own stand-ins share: a loopback ``HttpReceiver`` that records every raw request."""

from __future__ import annotations

from typing import Self

from tests.support.http_receiver import HttpReceiver, Reply


class LoopbackStandIn:
    """A service stand-in on 127.0.0.1: subclasses add routes to ``receiver``; unknown paths answer 404."""

    def __init__(self) -> None:
        self.receiver = HttpReceiver(Reply(404, {"Message": "not served by the stand-in"}))

    @property
    def url(self) -> str:
        return self.receiver.url

    def start(self) -> Self:
        self.receiver.start()
        return self

    def stop(self) -> None:
        self.receiver.stop()
