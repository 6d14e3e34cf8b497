"""The shared first step of every recommendation sink (destinations/sink_input.py)."""

from __future__ import annotations

from destinations.sink_input import NO_USER_ID, latest_per_user
from schemas.errors import PermanentError
from schemas.recommendation import Recommendation, ScoredItem


def rec(user_id: str, *items: str) -> Recommendation:
    return Recommendation(user_id=user_id, recommendation_id="r", items=tuple(ScoredItem(i) for i in items))


def test_the_last_list_of_each_user_is_kept_in_first_seen_order() -> None:
    latest, failed = latest_per_user([rec("bob", "a"), rec("alice", "b"), rec("bob", "c")], service="s")
    assert list(latest) == ["bob", "alice"]
    assert [i.item_id for i in latest["bob"].items] == ["c"]
    assert failed == {}


def test_a_list_without_a_user_id_fails_permanently_under_the_empty_id() -> None:
    latest, failed = latest_per_user([rec("", "a"), rec("alice", "b"), rec("", "c")], service="personas")
    assert list(latest) == ["alice"]
    assert set(failed) == {""}
    error = failed[""]
    assert isinstance(error, PermanentError) and not error.retryable
    assert (error.service, error.code) == ("personas", NO_USER_ID)


def test_nothing_given_nothing_kept() -> None:
    assert latest_per_user([], service="s") == ({}, {})
