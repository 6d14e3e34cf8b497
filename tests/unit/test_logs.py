"""Log lines never carry registered secrets or email addresses."""

from __future__ import annotations

import io
import logging

from consumers.config.logs import configure_logging, redact, register_secret


def test_redact_masks_secrets_and_emails() -> None:
    register_secret("sk_live_0123456789")
    assert redact("key=sk_live_0123456789 user=jane.doe+x@example.co.uk") == "key=[redacted] user=[email]"


def test_json_lines_are_redacted_whatever_the_logger() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    register_secret("writekey-abcdef")
    logging.getLogger("some.library").warning("posting with writekey-abcdef for bob@example.com")
    line = stream.getvalue().strip().splitlines()[-1]
    assert "writekey-abcdef" not in line and "bob@example.com" not in line
    assert '"level": "WARNING"' in line


def test_third_party_debug_logging_is_capped() -> None:
    configure_logging("DEBUG", stream=io.StringIO())
    assert logging.getLogger("segment").level >= logging.WARNING
