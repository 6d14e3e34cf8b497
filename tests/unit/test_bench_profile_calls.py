"""The ``make bench`` figure for Customer Profiles is a count, not a timing: check it on a small stream.

Calls are counted by the benchmark's botocore event hooks as the client makes them (tests/benchmarks/
profile_calls.py); a warm container must cost one UpdateProfile per refresh once it has seen the user."""

from __future__ import annotations

from tests.benchmarks.profile_calls import lines, measure


def test_a_warm_container_costs_one_call_per_refreshed_user_once_it_knows_the_user() -> None:
    result = measure(users=30)
    warm, cold = result["warm"], result["cold"]
    assert warm["users_refreshed"] == cold["users_refreshed"] > warm["calls"]["SearchProfiles"] > 0
    assert warm["calls"]["UpdateProfile"] == warm["users_refreshed"]  # every refresh written, once
    assert warm["steady_calls_per_refreshed_user"] == 1.0
    refreshed = cold["users_refreshed"]
    assert cold["calls"] == {"SearchProfiles": refreshed, "UpdateProfile": refreshed}
    assert cold["calls_per_refreshed_user"] == 2.0
    assert "1.00 in steady state" in "\n".join(lines(result))
