"""The one way pue reads settings from the environment: ``EnvReader``, which every settings parser extends
(``Settings``, ``EngagementSettings``, ``ApiSettings``).

A reader never raises on the first problem: each method notes what is wrong and returns a default, and
``finish`` raises one ``ConfigError`` naming every problem, so a deployment is fixed in one round.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from schemas.errors import ConfigError

_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


class EnvReader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def finish(self) -> None:
        """Raise the ``ConfigError`` of every problem noted, if any."""
        if self.problems:
            raise ConfigError(self.problems)

    def text(self, name: str) -> str | None:
        """The value without surrounding blanks; None when unset or blank."""
        value = self.env.get(name, "").strip()
        return value or None

    def url(self, name: str, default: str) -> str:
        value = self.text(name) or default
        if not value.startswith(("https://", "http://")):
            self.problems.append(f"{name} must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def arn(self, name: str, example: str = "arn:aws:personalize:...") -> str | None:
        value = self.text(name)
        if value is not None and not value.startswith("arn:"):
            self.problems.append(f"{name} must be an ARN ({example}), got {value!r}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number written as one (``8``, not ``8.0``) from ``low`` to ``high``."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name} must be from {low} to {high}, got {value}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number from {low:g} to {high:g}, got {raw!r}")
            return default
        if not low <= value <= high:
            self.problems.append(f"{name} must be from {low:g} to {high:g}, got {raw}")
            return default
        return value

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        """A number that must be whole, in any spelling (``86400``, ``8.64e4``)."""
        value = self.number(name, default, low, high)
        if value != int(value):
            self.problems.append(f"{name} must be a whole number, got {value:g}")
        return int(value)

    def flag(self, name: str) -> bool:
        raw = (self.text(name) or "false").lower()
        if raw not in _TRUE | _FALSE:
            self.problems.append(f"{name} must be true or false, got {raw!r}")
        return raw in _TRUE

    def json_object_of_strings(self, name: str, example: str) -> dict[str, str]:
        raw = self.text(name)
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.problems.append(f"{name} must be a JSON object of strings: {exc.msg}")
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            self.problems.append(f"{name} must be a JSON object of strings, e.g. {example}")
            return {}
        return value
