"""What normalizing one Segment message can give: interactions to track, a filter reason, or poison."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.interaction import Interaction


@dataclass(frozen=True, slots=True)
class Tracked:
    """One or more interactions (several for a multi-product event), all of one user and session."""

    interactions: tuple[Interaction, ...]
    # The message's time lay in the future of its receipt and was clamped to it (counted, not rejected).
    time_clamped: bool = False


@dataclass(frozen=True, slots=True)
class Filtered:
    """Valid, but not something to track (identify, page, unmapped event...). Counted by reason.

    ``reason`` is one of a fixed vocabulary (it is a counter's key and an API error's text); ``sample`` is
    the input value behind it, truncated (an unmapped event's name), kept only in a bounded sample.
    """

    reason: str
    sample: str | None = None


@dataclass(frozen=True, slots=True)
class Poison:
    """Can never be tracked (missing ids, over a service limit...). Dead-lettered with the reason."""

    reason: str


Normalized = Tracked | Filtered | Poison
