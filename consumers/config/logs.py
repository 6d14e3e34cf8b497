"""Structured JSON logs with redaction: no secrets and no email addresses ever reach a log line.

Secrets are registered once at cold start (``register_secret``); the filter masks them and anything that
looks like an email address in the final, formatted line, whatever logger or library produced it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from typing import Any

from consumers.config.printable import printable

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
# Below this length a "secret" would mask ordinary words; real keys and tokens are far longer.
_MIN_SECRET_LENGTH = 6

LOGGER_NAME = "pue"


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and email addresses in ``text``."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _EMAIL.sub("[email]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: level, logger, message and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        # Control characters are escaped by json; C1 controls, bidi overrides and lone surrogates from the
        # stream are not, and reach the terminal raw (or fail the write): escaped too (``printable``).
        return redact(printable(json.dumps(payload, default=str, ensure_ascii=False)))


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Install the JSON formatter on the root logger (idempotent: Lambda reuses the process)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("pue-json")
    for existing in list(root.handlers):
        if existing.get_name() == "pue-json" or stream is None:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party debug logs carry request bodies (Segment logs the write key and traits at DEBUG).
    for noisy in ("segment", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str = LOGGER_NAME) -> logging.Logger:
    return logging.getLogger(name)
