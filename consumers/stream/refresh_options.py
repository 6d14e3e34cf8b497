"""How a pipeline refreshes: list length, filter, interval, headroom for exclusions, anonymous visitors.

Built once by ``consumers.bootstrap.stream`` from the settings; ``consumers.stream.pipeline`` re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RefreshOptions:
    num_results: int
    filter_arn: str | None = None
    filter_values: Mapping[str, str] = field(default_factory=dict)
    # Postpone GetRecommendations and the sinks for a user refreshed less than this long ago (0: always
    # refresh) to when the interval ends (consumers.stream.refresh_sweep). The user's events are tracked
    # either way; only the write-back waits (docs/scaling.md).
    min_interval_seconds: float = 0.0
    # Ask for numResults plus one per purchased item, so the list is still numResults long once they are
    # removed (consumers.stream.filled_list). Off where the recommender leaves purchases out itself (local).
    widen_for_exclusions: bool = True
    # PUE_REFRESH_ANONYMOUS: also refresh each anonymous visitor of a batch (GetRecommendations with its
    # anonymousId as the userId) for the sinks that can hold its list (docs/performance.md measures the
    # calls this adds). Off by default.
    anonymous: bool = False
