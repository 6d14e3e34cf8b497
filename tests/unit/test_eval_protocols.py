"""make eval's protocols: the anonymous session split, the subsample, and the standard errors."""

from __future__ import annotations

import math

from tests.benchmarks.eval_data import Event, anonymous, leave_last_out, subsample
from tests.benchmarks.eval_report import Score, mean, score


def _events() -> list[Event]:
    events = [Event("u1", f"i{n}", float(n), "Product Viewed") for n in range(8)]
    events += [Event("u2", f"j{n}", 100.0 + n, "Product Viewed") for n in range(3)]  # too few: not evaluated
    return sorted(events, key=lambda e: e.ts)


def test_anonymous_sends_the_last_events_under_an_anonymous_id_and_asks_for_it() -> None:
    split = anonymous(leave_last_out(_events()), session_events=3)
    assert split.targets == {"anon-u1": "i7"}
    moved = [e for e in split.train if e.anonymous]
    assert [(e.user, e.item) for e in moved] == [("anon-u1", "i4"), ("anon-u1", "i5"), ("anon-u1", "i6")]
    assert [e.item for e in split.train if e.user == "u1"] == ["i0", "i1", "i2", "i3"]
    assert [e.user for e in split.train if e.item.startswith("j")] == ["u2"] * 3


def test_subsample_is_fixed_by_its_seed_and_keeps_the_training_events() -> None:
    events = [
        Event(f"u{u}", f"i{n}", float(u * 10 + n), "Product Viewed") for u in range(30) for n in range(6)
    ]
    split = leave_last_out(sorted(events, key=lambda e: e.ts))
    first, again = subsample(split, 7), subsample(split, 7)
    assert len(first.targets) == 7 and first.targets == again.targets
    assert first.train == split.train
    assert subsample(split, None) is split


def test_score_counts_hits_and_ranks_with_standard_errors() -> None:
    lists = {"a": ["x", "t"], "b": ["t"], "c": ["y"], "d": []}
    result = score(dict.fromkeys(lists, "t"), lambda user: lists[user])
    assert result.hr == 0.5
    assert math.isclose(result.ndcg, (1 / math.log2(3) + 1.0) / 4)
    assert math.isclose(result.hr_se, math.sqrt(0.25 / 4))
    combined = mean([Score(0.2, 0.1, 0.03, 0.02), Score(0.4, 0.2, 0.04, 0.01)])
    assert math.isclose(combined.hr, 0.3) and math.isclose(combined.hr_se, 0.025)
