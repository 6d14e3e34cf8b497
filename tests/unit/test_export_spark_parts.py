"""The Spark export's executor-side steps without Spark: part files and the "first wins" reductions."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

from consumers.onboarding.export.entries import ExportOptions, ExportPlan
from consumers.onboarding.spark import fold, parts
from consumers.onboarding.spark.storage import LocalStorage
from consumers.onboarding.spark.watch import StageWatch
from consumers.stream.event_map import EventMap


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
    def row(file: int, line: int, user: str) -> fold.RowValue:
        return (fold.order_of(file, line, 0), user, "s", "P1", ("P1",), None, None, 1)

    early, late = row(0, 5, "first"), row(1, 1, "second")
    for a, b in ((early, late), (late, early)):
        kept = fold.first_occurrence(a, b)
        assert (kept[0], kept[1], kept[7]) == (fold.order_of(0, 5, 0), "first", 2)
    # orders compare as (file, line, position) tuples would
    assert fold.order_of(0, 2**20, 9) < fold.order_of(1, 0, 0) and fold.order_of(3, 7, 1) < fold.order_of(
        3, 7, 2
    )

    # anon-1: bob twice (from file 1), then dave once, earlier (file 0): dave wins, bob's 2 calls conflict
    pairs = [
        (("anon-1", "bob"), (fold.order_of(1, 2, 0), 2)),
        (("anon-1", "dave"), (fold.order_of(0, 9, 1), 1)),
    ]
    picks = [fold.link_pick(pair) for pair in pairs]
    for one, other in ((picks[0], picks[1]), (picks[1], picks[0])):
        _, user, named, calls = fold.first_link(one[1], other[1])
        assert (user, calls - named) == ("dave", 2)
    assert fold.latest((1, "old"), (2, "new")) == (2, "new")


def test_records_travel_in_bundles_of_one_kind_with_repeats_combined_in_the_task(tmp_path: Path) -> None:
    lines = [
        {"type": "identify", "messageId": f"m{n}", "anonymousId": "a1", "userId": "u1", "traits": {"plan": p}}
        for n, p in enumerate(["free", "pro"])
    ] + [
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": "v1",
            "anonymousId": "a1",
            "userId": "u1",
            "properties": {"product_id": "P1"},
            "timestamp": "2026-11-02T10:00:00.000Z",
        }
    ]
    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n")
    plan = ExportPlan.of(ExportOptions(EventMap.default(), user_fields=("plan",)))

    bundles = list(fold.file_records((3, str(source)), plan, LocalStorage()))

    by_kind = {kind: fold.unbundle((kind, data)) for kind, data in bundles}
    assert len(bundles) == len(by_kind)  # one bundle per kind for a small file
    assert by_kind[fold.LINK] == [(("a1", "u1"), (fold.order_of(3, 1, 1), 3))]  # three calls, one record
    assert by_kind[fold.TRAIT] == [(("u1", "PLAN"), (fold.order_of(3, 2, 2), "pro"))]  # the last value
    assert [key for key, _ in by_kind[fold.ROW]] == ["v1"]
    assert [json.loads(line)["reason"] for _, line in by_kind[fold.DEAD]] == ["invalid JSON: Expecting value"]
    ((_, tally),) = by_kind[fold.TALLY]
    assert (tally.counts.messages, tally.counts.tracked, tally.counts.dead_lettered) == (4, 1, 1)


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
