"""The Spark export's executor-side steps without Spark: part files and the "first wins" reductions."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from types import SimpleNamespace

from consumers.onboarding.export.entries import Row
from consumers.onboarding.export.fields import NOTHING
from consumers.onboarding.spark import fold, parts
from consumers.onboarding.spark.storage import LocalStorage
from consumers.onboarding.spark.watch import StageWatch


def test_parts_roll_over_at_the_size_limit_each_with_its_header(tmp_path: Path) -> None:
    rows = [[f"user-{n}", "P1", 'a "quoted", value'] for n in range(10)]
    written = list(
        parts.write_parts(
            3,
            rows,
            storage=LocalStorage(),
            folder=str(tmp_path / "interactions"),
            header=("USER_ID", "ITEM_ID", "NOTE"),
            max_bytes=parts._ROW_MARGIN + 100,
        )
    )

    names = [Path(location).name for location, _ in written]
    assert names[:3] == ["part-00003.csv", "part-00003-1.csv", "part-00003-2.csv"]
    assert sum(n for _, n in written) == 10
    back = []
    for location, n in written:
        path = Path(location)
        assert path.stat().st_size <= parts._ROW_MARGIN + 100
        header, *data = list(csv.reader(io.StringIO(path.read_text())))
        assert header == ["USER_ID", "ITEM_ID", "NOTE"] and len(data) == n
        back.extend(data)
    assert back == rows  # csv.writer's quoting, as the single-process CsvFile writes it
    assert (
        list(parts.write_parts(0, [], storage=LocalStorage(), folder=str(tmp_path / "x"), header=("A",)))
        == []
    )


def test_the_earliest_occurrence_and_link_win_whatever_order_they_are_reduced_in() -> None:
    def row(event_id: str, user: str) -> Row:
        return Row(event_id, user, "s", "P1", ("P1",), NOTHING, NOTHING)

    early, late = ((0, 5, 0), row("e", "first"), 1), ((1, 1, 0), row("e", "second"), 1)
    for a, b in ((early, late), (late, early)):
        order, kept, count = fold.first_occurrence(a, b)
        assert (order, kept.user_id, count) == ((0, 5, 0), "first", 2)

    # anon-1: bob twice (from file 1), then dave once, earlier (file 0): dave wins, bob's 2 calls conflict
    pairs = [(("anon-1", "bob"), ((1, 2, 0), 2)), (("anon-1", "dave"), ((0, 9, 1), 1))]
    picks = [fold.link_pick(pair) for pair in pairs]
    for one, other in ((picks[0], picks[1]), (picks[1], picks[0])):
        _, user, named, calls = fold.first_link(one[1], other[1])
        assert (user, calls - named) == ("dave", 2)
    assert fold.latest(((0, 1, 0), "old"), ((0, 2, 0), "new")) == ((0, 2, 0), "new")


def test_stage_progress_lines_come_from_sparks_status_tracker() -> None:
    stages = {3: SimpleNamespace(numCompletedTasks=5, numTasks=8), 1: None}
    tracker = SimpleNamespace(getActiveStageIds=lambda: list(stages), getStageInfo=stages.get)
    said: list[str] = []
    with StageWatch(SimpleNamespace(statusTracker=lambda: tracker), said.append, every=0.01) as watch:
        assert watch.line() == "stage 3: 5/8 tasks done"  # a stage that just ended (no info) is left out
        deadline = time.monotonic() + 5
        while not said and time.monotonic() < deadline:
            time.sleep(0.01)
    assert said and set(said) == {"stage 3: 5/8 tasks done"}
