"""Text that came from the stream, made safe to show on a terminal (issue 23).

User ids, event names and reasons are whatever a client sent. Written raw to a terminal, an escape
sequence in them can retitle the window, rewrite what was printed before, or (on some terminals) answer
back keystrokes; a bidi override reorders what the operator reads; a lone surrogate (valid in a JSON
string, not in UTF-8) makes the write itself fail. ``printable`` replaces every character Python does not
call printable (control characters C0 and C1, format characters such as bidi overrides, separators other
than the space, surrogates, unassigned code points) with a ``\\uXXXX`` escape, which reads the same to a
person and is still valid inside a JSON string (the log lines).
"""

from __future__ import annotations


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the basic plane: a UTF-16 pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every non-printable character escaped, but those in ``keep`` (``"\\n"`` for a message
    of several lines pue wrote itself); unchanged (the same object) when all are printable."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char in keep else _escape(char) for char in text)
