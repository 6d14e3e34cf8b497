"""Settings for the whole test run."""

from __future__ import annotations

from hypothesis import settings

# Timing goals live in benchmarks, not in tests: on a loaded 2-core machine a first example can take longer
# than Hypothesis's default 200 ms deadline and fail a property that holds (seen in test_normalize).
settings.register_profile("pue", deadline=None)
settings.load_profile("pue")
