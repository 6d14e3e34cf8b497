"""The warm container's cache of Customer Profiles ids: bounded, least recently used first out."""

from __future__ import annotations

import pytest

from destinations.aws.profile_id_cache import ProfileIdCache


def test_the_least_recently_used_user_leaves_first_and_the_size_stays_bounded() -> None:
    cache = ProfileIdCache(max_users=2)
    cache.put("a", ["pa"])
    cache.put("b", ["pb"])
    assert cache.get("a") == ("pa",)  # a is now the most recently used
    cache.put("c", ["pc"])
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (("pa",), None, ("pc",))
    for n in range(100):
        cache.put(f"u{n}", [f"p{n}"])
    assert len(cache) == 2


def test_drop_forgets_a_user() -> None:
    cache = ProfileIdCache()
    cache.put("a", ["pa", "pa2"])
    cache.drop("a")
    cache.drop("never-there")
    assert cache.get("a") is None


def test_a_known_absence_goes_stale_but_found_profiles_do_not() -> None:
    now = [0.0]
    cache = ProfileIdCache(absent_seconds=10, clock=lambda: now[0])
    cache.put("ghost", [])
    cache.put("alice", ["pa"])
    now[0] = 9.9
    assert cache.get("ghost") == ()
    now[0] = 10.0
    assert cache.get("ghost") is None and len(cache) == 1
    now[0] = 1e9
    assert cache.get("alice") == ("pa",)


def test_a_cache_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProfileIdCache(max_users=0)
