"""`pue replay --workers`: the intake process and the refresh workers change nothing but the speed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.cli import local_commands, main
from consumers.runners.refresh_pool import PrefetchedRecommender, RecommendationPool, RefreshWorkers
from consumers.runners.replay_intake import IntakeProcess
from consumers.stream.event_map import EventMap
from schemas.errors import RetryableError
from schemas.recommendation import Recommendation, RecommendationRequest, ScoredItem
from tests.support.replay_store import store_rows

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def archive(path: Path, users: int = 60) -> Path:
    lines = []
    for n in range(users * 12):
        message = {
            "type": "track",
            "event": "Order Completed" if n % 11 == 0 else "Product Viewed",
            "messageId": f"m{n}",
            "userId": f"u{(n * 7) % users}",
            "anonymousId": f"a{(n * 7) % users}",
            "timestamp": (T0 + timedelta(minutes=n)).isoformat(),
            "properties": {"product_id": f"p{(n * 13) % 37}"},
        }
        lines.append(json.dumps(message))
    lines[100:100] = ["not json", '{"type": "identify", "userId": "u1", "messageId": "i1"}', lines[5]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(source: Path, state: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    code = main(["replay", str(source), "--state", str(state), "--batch-size", "50", *extra])
    summary: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    return summary


def test_workers_change_nothing_but_the_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = archive(tmp_path / "archive.jsonl")
    alone = run(source, tmp_path / "alone", capsys, "--workers", "0")
    # Thresholds down to this small archive: the intake process and two refresh workers do start.
    monkeypatch.setattr(local_commands, "INTAKE_PROCESS_MIN_BYTES", 0)
    monkeypatch.setattr(local_commands, "REFRESH_WORKERS_MIN_USERS", 1)
    started: list[int] = []
    real_pool = RecommendationPool.__init__

    def counting_pool(self: RecommendationPool, setup: RefreshWorkers) -> None:
        started.append(setup.workers)
        real_pool(self, setup)

    monkeypatch.setattr(RecommendationPool, "__init__", counting_pool)
    intakes: list[int] = []
    real_intake = IntakeProcess.__init__

    def counting_intake(self: IntakeProcess, path: Path, batch_size: int, event_map: EventMap) -> None:
        intakes.append(batch_size)
        real_intake(self, path, batch_size, event_map)

    monkeypatch.setattr(IntakeProcess, "__init__", counting_intake)
    helped = run(source, tmp_path / "helped", capsys, "--workers", "2")
    assert started == [2] and intakes == [50]
    assert helped == alone
    assert alone["dead_lettered"] == 1 and alone["filtered"] == 1 and alone["users_refreshed"] == 60
    assert store_rows(tmp_path / "helped") == store_rows(tmp_path / "alone")
    assert len(store_rows(tmp_path / "alone")["endpoint_attributes"]) == 60  # every user's list, once


class FailsFor:
    """A recommender that fails for some users: those lists are asked again of the fallback."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.asked: list[str] = []

    def get_recommendations(self, request: RecommendationRequest) -> Recommendation:
        self.asked.append(request.user_id or "")
        if request.user_id in self.failing:
            raise RetryableError("store busy")
        return Recommendation(request.user_id or "", "RID-1", (ScoredItem("i", 1.0),))


def open_failing() -> FailsFor:
    return FailsFor({"u2"})


def test_a_list_a_worker_could_not_compute_is_asked_again_in_the_main_process() -> None:
    requests = [RecommendationRequest(user_id=f"u{n}", num_results=5) for n in range(4)]
    with RecommendationPool(RefreshWorkers(open_failing, workers=1, min_users=1)) as pool:
        (lists,) = list(pool.lists([requests]))
    assert sorted(lists) == ["u0", "u1", "u3"]
    fallback = FailsFor(set())
    prefetched = PrefetchedRecommender(lists, fallback)
    assert prefetched.get_recommendations(requests[0]).user_id == "u0" and fallback.asked == []
    assert prefetched.get_recommendations(requests[2]).user_id == "u2" and fallback.asked == ["u2"]
    # A request other than the one computed (another list size) is not answered from the prefetched list.
    prefetched.get_recommendations(RecommendationRequest(user_id="u1", num_results=9))
    assert fallback.asked == ["u2", "u1"]
