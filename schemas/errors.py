"""The error tree. Every failure pue raises says whether retrying can help.

    PueError
     ├── RetryableError     throttling, 5xx, timeouts, connection errors: report the record, Lambda retries
     └── PermanentError     the input can never succeed
          ├── PoisonRecord  undecodable, not a Segment message, over a service limit: dead letter
          └── ConfigError   missing or malformed settings: fail at cold start, naming every problem

Adapters translate cloud errors (botocore ``ClientError`` codes, HTTP statuses) into these, so the pipeline
decides what to do with a record without knowing which service failed.
"""

from __future__ import annotations

from collections.abc import Sequence


class PueError(Exception):
    """Base of every error pue raises on purpose. ``retryable`` tells the pipeline what to do."""

    retryable: bool = False

    def __init__(self, message: str, *, service: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.code = code

    def __str__(self) -> str:
        where = f"{self.service}: " if self.service else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where}{self.message}{code}"


class RetryableError(PueError):
    """A transient failure: the same call may succeed later (throttling, 5xx, timeout, connection)."""

    retryable = True


class PermanentError(PueError):
    """The call will fail the same way every time; retrying only blocks the shard."""


class PoisonRecord(PermanentError):
    """An input record that can never be processed: it goes to the dead-letter sink with this reason."""


class ConfigError(PermanentError):
    """Settings are missing or malformed. Carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{listing}")
