"""One finding of ``pue validate``: where, how bad, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """``error``: Personalize would reject the schema, the import or the training; ``warning``: it would
    accept it, but the data is probably not what was meant. ``rule`` is a short, stable name used to
    count issues of one kind; ``message`` says what is wrong and how to fix it."""

    severity: Severity
    rule: str
    message: str
    line: int | None = None  # 1-based line of the CSV file; None for file- or dataset-level issues


def error(rule: str, message: str, line: int | None = None) -> Issue:
    return Issue("error", rule, message, line)


def warning(rule: str, message: str, line: int | None = None) -> Issue:
    return Issue("warning", rule, message, line)
