"""Identity linking (anonymousId -> userId) and the scratch file it and the dedupe live in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consumers.onboarding.export.identity import IdentityLinks, identity_id, link_of
from consumers.onboarding.export.scratch import Scratch


def observe(links: IdentityLinks, message: dict[str, Any]) -> None:
    """What the export does with a message: its link, when it carries one (entries.line_entries)."""
    link = link_of(message)
    if link is not None:
        links.observe(*link)


@pytest.fixture
def scratch(tmp_path: Path) -> Any:
    with Scratch(tmp_path) as opened:
        yield opened


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("u1", "u1"),
        (42, "42"),
        (42.0, "42"),
        (1.5, "1.5"),
        ("", None),
        (True, None),
        (None, None),
        ("x" * 257, None),
    ],
)
def test_ids_are_read_as_normalize_reads_them(value: object, expected: str | None) -> None:
    assert identity_id(value) == expected


def test_links_come_from_calls_carrying_both_ids_and_from_alias() -> None:
    assert link_of({"type": "identify", "anonymousId": "a1", "userId": "u1"}) == ("a1", "u1")
    assert link_of({"type": "track", "anonymousId": "a1", "userId": 7}) == ("a1", "7")
    assert link_of({"type": "alias", "previousId": "a2", "userId": "u2", "anonymousId": "ignored"}) == (
        "a2",
        "u2",
    )
    assert link_of({"type": "track", "anonymousId": "a1"}) is None
    assert link_of({"type": "identify", "anonymousId": "same", "userId": "same"}) is None


def test_parked_rows_are_attributed_to_the_first_user_linked_even_when_the_link_comes_later(
    scratch: Scratch,
) -> None:
    links = IdentityLinks(scratch)
    links.park("anon-1", ["P1", "Product Viewed", "100"])  # browsed before signing in
    links.park("anon-2", ["P2", "Product Viewed", "101"])  # never signs in
    observe(links, {"type": "identify", "anonymousId": "anon-1", "userId": "alice"})
    observe(links, {"type": "track", "anonymousId": "anon-1", "userId": "alice"})
    observe(links, {"type": "identify", "anonymousId": "anon-1", "userId": "bob"})  # shared device
    links.park("anon-1", ["P3", "Product Added", "102"])

    resolved = list(links.resolve())

    assert resolved == [
        ("alice", ["P1", "Product Viewed", "100"]),
        (None, ["P2", "Product Viewed", "101"]),
        ("alice", ["P3", "Product Added", "102"]),
    ]
    assert links.conflicts == 1
    assert links.parked == 3


def test_first_link_wins_after_the_cache_forgets_it(
    scratch: Scratch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("consumers.onboarding.export.identity._CACHE_MAX", 1)
    links = IdentityLinks(scratch)
    observe(links, {"anonymousId": "a1", "userId": "u1"})
    observe(links, {"anonymousId": "a2", "userId": "u2"})  # evicts a1
    observe(links, {"anonymousId": "a1", "userId": "u9"})
    links.park("a1", ["row"])
    assert list(links.resolve()) == [("u1", ["row"])]
    assert links.conflicts == 1


def test_scratch_dedupes_event_ids_within_and_across_calls(scratch: Scratch) -> None:
    assert scratch.first_seen(["e1", "e2", "e1"]) == [True, True, False]
    assert scratch.first_seen(["e2", "e3"]) == [False, True]


def test_scratch_counts_users_and_merges_fields(scratch: Scratch) -> None:
    scratch.count_users(["u1", "u2", "u1"])
    assert scratch.user_totals(2) == (2, 1)
    scratch.set_fields("items", [("i2", "", None), ("i1", "CATEGORY", "shoes"), ("i1", "PRICE", "10")])
    scratch.set_fields("items", [("i1", "PRICE", "12"), ("i1", "CATEGORY", None)])
    assert list(scratch.field_rows("items")) == [("i1", {"CATEGORY": "shoes", "PRICE": "12"}), ("i2", {})]
    assert list(scratch.field_rows("users")) == []


def test_scratch_removes_its_directory_on_close(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    scratch.close()
    assert list(tmp_path.iterdir()) == []
