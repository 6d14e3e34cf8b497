"""The outcome of ``pue validate``: the first issues in file order, a count of the rest, a summary table.

Only the first ``max_shown`` errors and warnings are kept (each), plus the first issue of every rule, so
a file with a million bad rows costs no more memory than one with ten and no kind of problem hides behind
another; the rest are counted per rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from consumers.onboarding.validate.issues import Issue

DEFAULT_MAX_SHOWN: Final = 20
_TOP_EVENT_TYPES: Final = 5


@dataclass(slots=True)
class Stats:
    """The summary table's numbers; None where the dataset type has no such thing."""

    rows: int = 0
    duplicates: int = 0
    users: int | None = None
    active_users: int | None = None
    items: int | None = None
    event_types: dict[str, int] | None = None
    first_time: int | None = None
    last_time: int | None = None


@dataclass(slots=True)
class Report:
    path: Path
    kind: str | None = None
    schema_source: str = "built-in rules (no schema file)"
    max_shown: int = DEFAULT_MAX_SHOWN
    shown: list[Issue] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    hidden: dict[str, int] = field(default_factory=dict)  # rule -> issues not shown
    stats: Stats = field(default_factory=Stats)
    _rules: set[str] = field(default_factory=set)  # "severity rule" of every issue added

    @property
    def rejected(self) -> bool:
        return self.errors > 0

    def add(self, issue: Issue) -> None:
        if issue.severity == "error":
            self.errors += 1
            count = self.errors
        else:
            self.warnings += 1
            count = self.warnings
        kind = f"{issue.severity} {issue.rule}"
        # File- and dataset-level issues (no line) are few and decisive, and the first of each rule shows
        # where that problem starts even behind a flood of another: always shown.
        if count <= self.max_shown or issue.line is None or kind not in self._rules:
            self.shown.append(issue)
        else:
            self.hidden[kind] = self.hidden.get(kind, 0) + 1
        self._rules.add(kind)

    def render(self) -> str:
        lines = [
            f"pue validate {self.path}: {self.kind or 'unknown'} dataset, "
            f"checked against {self.schema_source}"
        ]
        # Errors first: they are what stands between this file and an import job.
        for issue in sorted(self.shown, key=lambda i: (i.severity != "error", i.line or 0)):
            where = f"line {issue.line}: " if issue.line is not None else ""
            lines.append(f"{issue.severity:<8}{where}{issue.message}")
        if self.hidden:
            counts = ", ".join(
                f"{rule}: {n:,}" for rule, n in sorted(self.hidden.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"... and {sum(self.hidden.values()):,} more not shown ({counts}); see --max-errors")
        lines.append("")
        lines.extend(self._table())
        lines.append("")
        verdict = "REJECTED: Personalize would not accept this dataset" if self.rejected else "OK"
        lines.append(f"{verdict} ({_plural(self.errors, 'error')}, {_plural(self.warnings, 'warning')})")
        return "\n".join(lines) + "\n"

    def _table(self) -> list[str]:
        s = self.stats
        repeats = f" ({s.duplicates:,} duplicate{'' if s.duplicates == 1 else 's'})" if s.duplicates else ""
        rows = [("rows", f"{s.rows:,}{repeats}")]
        if s.users is not None:
            active = f" ({s.active_users:,} with 2+ interactions)" if s.active_users is not None else ""
            rows.append(("users", f"{s.users:,}{active}"))
        if s.items is not None:
            rows.append(("items", f"{s.items:,}"))
        if s.event_types is not None:
            top = sorted(s.event_types.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_EVENT_TYPES]
            names = ", ".join(f"{name}: {n:,}" for name, n in top)
            rows.append(("event types", f"{len(s.event_types):,}" + (f" ({names})" if names else "")))
        if s.first_time is not None and s.last_time is not None:
            rows.append(("time range", f"{_iso(s.first_time)} .. {_iso(s.last_time)}"))
        return ["Summary", *(f"  {label:<14}{value}" for label, value in rows)]

    def to_json(self) -> dict[str, Any]:
        s = self.stats
        return {
            "path": str(self.path),
            "kind": self.kind,
            "schema": self.schema_source,
            "rejected": self.rejected,
            "errors": self.errors,
            "warnings": self.warnings,
            "issues": [
                {"severity": i.severity, "rule": i.rule, "line": i.line, "message": i.message}
                for i in self.shown
            ],
            "not_shown": self.hidden,
            "stats": {
                "rows": s.rows,
                "duplicates": s.duplicates,
                "users": s.users,
                "active_users": s.active_users,
                "items": s.items,
                "event_types": s.event_types,
                "first_time": s.first_time,
                "last_time": s.last_time,
            },
        }


def _iso(epoch: int) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(epoch)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
