"""Read a Personalize batch segment job's output: one JSON line per query, every line of the file.

Item-Affinity lines look like ``{"input": {"itemId": "105"}, "output": {"recommendedUsers": [...]}}``,
Item-Attribute-Affinity lines like ``{"itemAttributes": "ITEMS.genres = \\"Action\\"", "output": {...}}``;
older outputs name the users ``usersList``. A line Personalize could not answer carries an ``error``.
https://docs.aws.amazon.com/personalize/latest/dg/batch-segment-job-output-examples.html

Each query becomes a segment with a unique, readable name: the query, the run's UTC time, a random run
token (two runs in the same second differ) and the query's line number.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

# Keeps names readable in the Pinpoint console and well inside what any name field takes.
MAX_LABEL_SLUG: Final = 40
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class OutputError(Exception):
    """The output as a whole cannot be used (empty, unreadable): nothing is imported."""


@dataclass(frozen=True, slots=True)
class SegmentQuery:
    line: int  # 1-based line number in the output file
    label: str  # what was asked: 'item 105' or 'ITEMS.genres = "Action"'
    users: tuple[str, ...]  # in Personalize's order, duplicates removed


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    reason: str


@dataclass(slots=True)
class ParsedOutput:
    queries: list[SegmentQuery]
    problems: list[LineProblem]


def parse_output(lines: Iterable[str | bytes]) -> ParsedOutput:
    """Every non-blank line, in order: a query, or a problem saying why the line was not used.

    ``OutputError`` when the output holds no line at all.
    """
    parsed = ParsedOutput([], [])
    seen_any = False
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        seen_any = True
        outcome = parse_line(number, text)
        if isinstance(outcome, SegmentQuery):
            parsed.queries.append(outcome)
        else:
            parsed.problems.append(outcome)
    if not seen_any:
        raise OutputError("the batch segment output is empty: no query lines to turn into segments")
    return parsed


def parse_line(number: int, text: str) -> SegmentQuery | LineProblem:
    try:
        line = json.loads(text)
    except json.JSONDecodeError as exc:
        return LineProblem(number, f"not JSON ({exc.msg} at column {exc.colno})")
    except (ValueError, RecursionError):  # an integer past int_max_str_digits, nesting past the stack
        return LineProblem(number, "not JSON (a number too long or nesting too deep)")
    if not isinstance(line, dict):
        return LineProblem(number, "not a JSON object")
    label = _label(line)
    if line.get("error"):
        return LineProblem(
            number, f"Personalize reported an error for {label or 'this query'}: {line['error']}"
        )
    if label is None:
        return LineProblem(number, "no query: expected input.itemId or itemAttributes")
    output = line.get("output")
    users = output.get("recommendedUsers", output.get("usersList")) if isinstance(output, dict) else None
    if not isinstance(users, list):
        return LineProblem(number, f"{label}: no output.recommendedUsers (or usersList) list")
    if not all(isinstance(user, str) and user for user in users):
        return LineProblem(number, f"{label}: the user list holds something other than user id strings")
    return SegmentQuery(number, label, tuple(dict.fromkeys(users)))


def _label(line: dict[str, Any]) -> str | None:
    query = line.get("input")
    item_id = query.get("itemId") if isinstance(query, dict) else None
    if isinstance(item_id, str | int) and str(item_id):
        return f"item {item_id}"
    attributes = line.get("itemAttributes")
    if attributes is None and isinstance(query, dict):
        attributes = query.get("itemAttributes")
    if isinstance(attributes, str) and attributes.strip():
        return attributes.strip()
    return None


@dataclass(frozen=True, slots=True)
class RunNamer:
    """Names one run's segments: ``<query slug>-<UTC yyyymmddThhmmss>-<run token>-l<line>``."""

    stamp: str
    token: str

    @classmethod
    def new(cls, now: datetime | None = None) -> RunNamer:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(moment.strftime("%Y%m%dT%H%M%S"), secrets.token_hex(3))

    def name(self, query: SegmentQuery) -> str:
        return f"{slug(query.label)}-{self.stamp}-{self.token}-l{query.line}"


def slug(label: str) -> str:
    """``ITEMS.genres = "Comedy" AND ITEMS.genres = "Action"`` -> ``genres-comedy-and-genres-action``."""
    text = re.sub(r"\bitems\.", "", label.lower())
    cut = _NOT_SLUG.sub("-", text).strip("-")[:MAX_LABEL_SLUG].rstrip("-")
    return cut or "segment"
