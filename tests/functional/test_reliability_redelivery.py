"""Reliability 3, redelivery: Lambda redelivers a batch (or its tail) whenever anything in it failed. A batch
handled twice gives the tracker the same event ids again and nothing else, gives Segment the same message
ids, and leaves no duplicate row in the local store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import Pipeline
from destinations.local import LocalBackend
from tests.functional.reliability_figures import report
from tests.functional.reliability_support import Tally
from tests.support.cloud_fake import CloudFake
from tests.support.hostile import ASCII_USERS, HostileStream, Plan, build_plan

SUITE_RECORDS: Final = 300
STRESS_RECORDS: Final = 5_000
# Valid and poison kinds whose events and letters the store keeps; redelivered and KPL ones included.
KINDS: Final = (
    "viewed",
    "order",
    "anonymous",
    "kpl_valid",
    "redelivered",
    "identify",
    "truncated",
    "over_limit",
)


def _plan(records: int, seed: int) -> Plan:
    stream = HostileStream(seed, users=ASCII_USERS[:20], valid_share=0.85, kinds=KINDS)
    return build_plan(stream.records(records), batch_size=100)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Pipeline, LocalBackend]]:
    env = {"PUE_STATE_DIR": str(tmp_path), "PUE_LOG_LEVEL": "ERROR"}
    pipeline, wiring = build_pipeline(Settings.from_env(env), engagement=EngagementSettings())
    assert wiring.local is not None
    yield pipeline, wiring.local
    pipeline.close()
    wiring.local.close()


def _rows(local: LocalBackend) -> tuple[list[str], list[str]]:
    """Event ids and dead-letter ids in the store, repeats included (if any)."""
    with local.store.transaction(write=False) as conn:
        events = [str(row[0]) for row in conn.execute("SELECT event_id FROM interactions_readable")]
    letters = [letter.letter_id for letter in local.store.dead_letters(limit=10**9)]
    return events, letters


def _duplicates(values: list[str]) -> int:
    return sum(count - 1 for count in Counter(values).values())


def _redeliver_locally(local_pair: tuple[Pipeline, LocalBackend], plan: Plan) -> Tally:
    pipeline, store = local_pair
    tally = Tally("redelivery (local store)", records=2 * plan.user_records)
    for event in plan.events:
        handle_event(event, pipeline)
    first = _rows(store)
    for event in plan.events:  # the same batches again, as Lambda would after a lost checkpoint
        response, _ = handle_event(event, pipeline)
        tally.invocations += 2
        if response != {"batchItemFailures": []}:
            tally.problems.append(f"a redelivered batch failed: {response}")
    events, letters = _rows(store)
    tally.tracked, tally.dead_lettered = len(set(events)), len(set(letters))
    if _duplicates(events):
        tally.duplicate("event rows in the local store", _duplicates(events))
    if _duplicates(letters):
        tally.duplicate("dead-letter rows in the local store", _duplicates(letters))
    if sorted(events) != sorted(first[0]) or sorted(letters) != sorted(first[1]):
        tally.problems.append("the store changed when the same batches came again")
    for event_id in plan.tracked.keys() - set(events):
        tally.lose(f"event {event_id}")
    return tally


def test_same_batches_twice_leave_no_duplicate_rows(local: tuple[Pipeline, LocalBackend]) -> None:
    tally = _redeliver_locally(local, _plan(SUITE_RECORDS, seed=21))
    assert tally.problems == []
    assert tally.tracked > 0 and tally.dead_lettered > 0


@pytest.mark.stress
def test_redelivery_full_run(local: tuple[Pipeline, LocalBackend]) -> None:
    tally = _redeliver_locally(local, _plan(STRESS_RECORDS, seed=22))
    report(tally)
    assert tally.problems == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(min_value=0, max_value=59), min_size=1, max_size=120))
def test_any_redelivery_pattern_keeps_the_store_unique(
    local: tuple[Pipeline, LocalBackend], picks: list[int]
) -> None:
    """Records redelivered in any grouping and any number of times: each event stored once."""
    pipeline, store = local
    plan = _plan(60, seed=23)
    records = plan.all_records
    for start in range(0, len(picks), 7):
        batch = sorted({picks[i] for i in range(start, min(start + 7, len(picks)))})
        handle_event({"Records": [records[i] for i in batch]}, pipeline)
    events, letters = _rows(store)
    assert _duplicates(events) == 0 and _duplicates(letters) == 0


# -- the cloud path: the tracker and Segment see the same ids again ------------------------------------


def _cloud_deliver_twice(tmp_path: Path, fake: CloudFake, event: dict[str, Any]) -> list[dict[str, Any]]:
    env = fake.env(PUE_STATE_DIR=str(tmp_path), PUE_LOG_LEVEL="ERROR")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if name.startswith("AWS_"):
                patch.setenv(name, value)
        pipeline, _ = build_pipeline(Settings.from_env(env), engagement=EngagementSettings())
        seen: list[dict[str, Any]] = []
        try:
            for _ in range(2):
                fake.reset()
                response, _result = handle_event(event, pipeline)
                assert response == {"batchItemFailures": []}
                seen.append(
                    {
                        "events": fake.events_by_user(),
                        "identifies": sorted(i.message_id for i in fake.identifies()),
                        "letters": sorted(m.body for m in fake.dead_letters()),
                        "endpoints": fake.endpoint_attributes(),
                    }
                )
        finally:
            pipeline.close()
    return seen


def test_cloud_redelivery_sends_the_same_ids_again(tmp_path: Path) -> None:
    plan = _plan(120, seed=24)
    with CloudFake() as fake:
        first, second = _cloud_deliver_twice(tmp_path, fake, plan.event())
    assert first["events"], "the batch tracked nothing: the comparison would prove nothing"
    assert second["events"] == first["events"]  # the same event ids, per user, in the same order
    assert set().union(*map(set, first["events"].values())) == set(plan.tracked)
    assert second["identifies"] == first["identifies"] and len(first["identifies"]) > 0
    assert len(set(first["identifies"])) == len(first["identifies"])
    assert second["letters"] == first["letters"] and len(first["letters"]) == len(plan.dead)
    assert second["endpoints"] == first["endpoints"]
