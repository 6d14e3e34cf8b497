"""``printable``: stream text made safe for a terminal, still readable, still valid inside JSON."""

from __future__ import annotations

import json

import pytest

from consumers.config.printable import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain user-7 é 日本", "plain user-7 é 日本"),
        ("\x1b]0;title\x07", "\\u001b]0;title\\u0007"),
        ("a\u202eb", "a\\u202eb"),  # a bidi override
        ("\x9b31m", "\\u009b31m"),  # C1 CSI
        ("E \ud800", "E \\ud800"),  # a lone surrogate: could not even be written as UTF-8
        ("tag\U000e0041", "tag\\udb40\\udc41"),  # a format character outside the basic plane
        ("two\nlines", "two\\u000alines"),
    ],
)
def test_non_printable_characters_become_escapes(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    shown.encode("utf-8")  # writable
    assert json.loads(f'"{printable(raw)}"') == raw  # JSON reads the escape back


def test_kept_characters_and_unchanged_text() -> None:
    assert printable("line one\nline \x1b two", keep="\n") == "line one\nline \\u001b two"
    text = "nothing to escape"
    assert printable(text) is text
