"""The error tree. Every failure pue raises says whether retrying can help.

    PueError
     ├── RetryableError     throttling, 5xx, timeouts, connection errors: report the record, Lambda retries
     └── PermanentError     the input can never succeed
          ├── PoisonRecord  the record is wrong (undecodable, over a limit, rejected for its content):
          │                 dead letter
          └── ConfigError   the deployment is wrong: at cold start, missing or malformed settings (naming
                            every problem); at run time, a denied permission, a revoked token, a missing
                            tracker, queue or table: the records are retried, never dead-lettered

The question for each failure is "who must act?": the record's sender (poison), the operator (config) or
nobody but time (retryable). Unclassified permanent errors are treated like poison by the pipeline.

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

    @classmethod
    def at_run_time(cls, message: str, *, service: str, code: str) -> ConfigError:
        """A deployment fault met while calling ``service`` (a denied permission, a missing resource, a
        revoked token): one line, tagged like any service error, so logs and counts group it by cause."""
        error = cls([f"{service}: {message} [{code}]"])
        error.message, error.service, error.code = message, service, code
        error.args = (message,)
        return error
