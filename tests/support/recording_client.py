"""A boto3 client as the code under test gets it, with every call it makes kept (operation, parameters):
tests assert on what was called, the answers stay the real client's. ``read`` counts the body bytes read
from ``get_object`` answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Recording:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.read = 0

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            answer = method(**params)
            if name == "get_object":
                answer["Body"] = _CountingBody(answer["Body"], self)
            return answer

        return call

    def named(self, name: str) -> list[dict[str, Any]]:
        """The parameters of every ``name`` call, in order."""
        return [params for called, params in self.calls if called == name]


class _CountingBody:
    def __init__(self, body: Any, owner: Recording) -> None:
        self._body = body
        self._owner = owner

    def read(self, amount: int | None = None) -> bytes:
        data: bytes = self._body.read(amount)
        self._owner.read += len(data)
        return data

    def close(self) -> None:
        self._body.close()
