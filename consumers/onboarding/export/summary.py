"""What an export did, counted: every message lands in one bucket, every interaction is accounted for.

Messages: ``messages == tracked + filtered + dead_lettered`` (the stream's processed/filtered/dead-lettered
buckets). Interactions of tracked messages: ``written + duplicates + sum(dropped.values())``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from schemas.limits import (
    PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS,
    PERSONALIZE_MIN_ACTIVE_USERS,
    PERSONALIZE_MIN_INTERACTIONS,
)

_TOP_REASONS: Final = 5
# The counts a part of an export adds up to the whole (``add``); the rest are set once, at the end.
_ADDED: Final = ("messages", "tracked", "filtered", "dead_lettered", "timestamps_clamped", "duplicates")


def bump(reasons: dict[str, int], reason: str, n: int = 1) -> None:
    reasons[reason] = reasons.get(reason, 0) + n


@dataclass(slots=True)
class ExportSummary:
    files: int = 0
    skipped_files: int = 0
    messages: int = 0
    tracked: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    timestamps_clamped: int = 0  # tracked messages whose time lay past their receipt (clamped to it)
    filter_reasons: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    interactions: int = 0  # rows written to interactions.csv
    linked: int = 0  # of which anonymous events attributed through an identify
    duplicates: int = 0  # interactions whose event id was already exported
    dropped: dict[str, int] = field(default_factory=dict)  # interactions not written, by reason
    link_conflicts: int = 0
    users: int = 0  # distinct USER_IDs in interactions.csv
    active_users: int = 0  # of which with at least 2 interactions
    user_rows: int | None = None  # rows in users.csv; None when not written
    items: int = 0  # rows in items.csv (every item seen); 0 when not written
    values_too_long: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)  # dataset -> its file (or Spark: folder)

    def count_message(self, filtered: str | None, clamped: bool) -> None:
        """A message that decoded: tracked (``filtered`` None) or filtered for that reason."""
        self.messages += 1
        if filtered is None:
            self.tracked += 1
            self.timestamps_clamped += int(clamped)
        else:
            self.filtered += 1
            bump(self.filter_reasons, filtered)

    def count_dead_letter(self, reason: str) -> None:
        self.messages += 1
        self.dead_lettered += 1
        bump(self.dead_letter_reasons, reason)

    def add(self, other: ExportSummary) -> None:
        """Add another part's message and interaction counts (the Spark engine: one part per task)."""
        for name in _ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.filter_reasons, other.filter_reasons),
            (self.dead_letter_reasons, other.dead_letter_reasons),
            (self.dropped, other.dropped),
        ):
            for reason, n in theirs.items():
                bump(mine, reason, n)

    @property
    def balanced(self) -> bool:
        return self.messages == self.tracked + self.filtered + self.dead_lettered

    def problems(self) -> list[str]:
        """Personalize's training minimums this export does not meet, each with what to do."""
        found = []
        if self.interactions < PERSONALIZE_MIN_INTERACTIONS:
            found.append(
                f"only {self.interactions:,} interactions: Personalize needs at least "
                f"{PERSONALIZE_MIN_INTERACTIONS:,} to train; export a longer history"
            )
        if self.active_users < PERSONALIZE_MIN_ACTIVE_USERS:
            found.append(
                f"only {self.active_users:,} users with {PERSONALIZE_ACTIVE_USER_MIN_INTERACTIONS}+ "
                f"interactions: Personalize needs at least {PERSONALIZE_MIN_ACTIVE_USERS}; export a longer "
                "history, or keep identity linking on so anonymous sessions count"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "skipped_files": self.skipped_files,
            "messages": self.messages,
            "tracked": self.tracked,
            "filtered": self.filtered,
            "dead_lettered": self.dead_lettered,
            "timestamps_clamped": self.timestamps_clamped,
            "filter_reasons": self.filter_reasons,
            "dead_letter_reasons": self.dead_letter_reasons,
            "interactions": self.interactions,
            "linked": self.linked,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "link_conflicts": self.link_conflicts,
            "users": self.users,
            "active_users": self.active_users,
            "user_rows": self.user_rows,
            "items": self.items,
            "values_too_long": self.values_too_long,
            "seconds": round(self.seconds, 3),
            "outputs": dict(self.outputs),
            "problems": self.problems(),
        }

    def render(self) -> str:
        rate = self.messages / self.seconds if self.seconds > 0 else 0.0
        lines = [
            "Summary",
            _row("files read", self.files, f"{self.skipped_files} skipped (not .gz/.json/.jsonl/.ndjson)"),
            _row("messages read", self.messages, f"{rate:,.0f} messages/s, {self.seconds:,.1f} s"),
            _row("  tracked", self.tracked),
            _row("  filtered", self.filtered, _top(self.filter_reasons)),
            _row("  dead-lettered", self.dead_lettered, _top(self.dead_letter_reasons)),
            _row("times clamped", self.timestamps_clamped, "event time past receipt: set to receivedAt"),
            _row("interactions written", self.interactions, self._path("interactions")),
            _row("  from anonymous", self.linked, "attributed to the user a later identify named"),
            _row("duplicates skipped", self.duplicates, "same eventId as an earlier one"),
            _row("interactions dropped", sum(self.dropped.values()), _top(self.dropped)),
            _row("users", self.users, f"{self.active_users:,} with 2+ interactions"),
        ]
        if self.user_rows is None:
            lines.append(_row("  users.csv", 0, "not written: pass --user-fields (e.g. plan,country)"))
        else:
            lines.append(_row("  users.csv rows", self.user_rows, self._path("users")))
        if "items" in self.outputs:
            lines.append(_row("items", self.items, self._path("items")))
        else:
            lines.append(_row("items.csv", 0, "not written: --item-fields is empty"))
        if self.link_conflicts:
            lines.append(_row("link conflicts", self.link_conflicts, "anonymousId seen with 2+ users"))
        if self.values_too_long:
            lines.append(_row("values too long", self.values_too_long, "over 1,000 characters, left empty"))
        if "dead_letters" in self.outputs:
            lines.append(f"  dead letters: {self.outputs['dead_letters']}")
        lines.extend(f"warning: {problem}" for problem in self.problems())
        return "\n".join(lines) + "\n"

    def _path(self, name: str) -> str:
        path = self.outputs.get(name)
        return f"-> {path}" if path else ""


def _row(label: str, count: int, note: str = "") -> str:
    return f"  {label:<22}{count:>12,}   {note}".rstrip()


def _top(reasons: dict[str, int]) -> str:
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_REASONS]
    more = len(reasons) - len(top)
    text = "; ".join(f"{reason}: {n:,}" for reason, n in top)
    return f"{text}; {more} more reasons" if more > 0 else text
