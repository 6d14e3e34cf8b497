"""The hostile-input run: generated records through the handler's code on the local backend, then checked
against each record's oracle (``tests.support.hostile``).

The Segment sinks (Personas traits, Profile API) are on and point at the loopback cloud fake, so the planted
write key and Profile token are live settings while the logs are captured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.stream.lambda_batch import handle_event
from consumers.stream.pipeline import BatchResult
from destinations.local import LocalBackend
from schemas.dead_letter import DeadLetter
from tests.functional.reliability_support import (
    SECRETS,
    Tally,
    captured_logs,
    find_leaks,
    log_lines,
    response_texts,
)
from tests.support.cloud_fake import SPACE_ID, CloudFake
from tests.support.hostile import HostileStream, Plan, build_plan

FORWARDED_PROPERTY = "coupon"  # forwarded to Personalize by the run's event map, so its limit applies


@dataclass(slots=True)
class HostileRun:
    plan: Plan
    responses: list[Mapping[str, Any] | None] = field(default_factory=list)
    results: list[BatchResult | None] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    stored: list[tuple[str, str | None, str]] = field(default_factory=list)  # event id, user id, session
    letters: list[DeadLetter] = field(default_factory=list)
    logs: str = ""


def event_map_file(directory: Path) -> Path:
    """The packaged default map, plus one forwarded property."""
    from importlib import resources

    text = resources.files("consumers.stream").joinpath("default_event_map.json").read_text(encoding="utf-8")
    data = json.loads(text)
    data["property_whitelist"] = [FORWARDED_PROPERTY]
    path = directory / "event_map.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run_hostile(
    directory: Path,
    fake: CloudFake,
    *,
    records: int,
    seed: int,
    batch_size: int = 500,
    libraries_at: int | None = None,
) -> HostileRun:
    directory.mkdir(parents=True, exist_ok=True)
    stream = HostileStream(seed, forwarded_property=FORWARDED_PROPERTY)
    run = HostileRun(build_plan(stream.records(records), batch_size=batch_size))
    env = {
        "PUE_STATE_DIR": str(directory / "state"),
        "PUE_EVENT_MAP": str(event_map_file(directory)),
        "PUE_LOG_LEVEL": "DEBUG",
        "SEGMENT_API_HOST": fake.url,
        "SEGMENT_PROFILE_API_HOST": fake.url,
        "SEGMENT_SPACE_ID": SPACE_ID,
        **SECRETS,
    }
    with captured_logs("DEBUG", libraries_at=libraries_at) as logs:
        pipeline, wiring = build_pipeline(Settings.from_env(env), engagement=EngagementSettings())
        try:
            for event in run.plan.events:
                try:
                    response, result = handle_event(event, pipeline)
                except Exception as exc:  # recorded, and the test fails on it: the handler must never raise
                    run.raised.append(type(exc).__name__)
                    continue
                run.responses.append(dict(response))
                run.results.append(result)
        finally:
            pipeline.close()
        assert wiring.local is not None
        _read_back(run, wiring.local)
        wiring.local.close()
    run.logs = logs.getvalue()
    return run


def _read_back(run: HostileRun, local: LocalBackend) -> None:
    with local.store.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT event_id, user_id, session_id FROM interactions_readable ORDER BY seq"
        ).fetchall()
    run.stored = [(str(e), None if u is None else str(u), str(s)) for e, u, s in rows]
    run.letters = local.store.dead_letters(limit=10**9)


def check_hostile(run: HostileRun) -> Tally:
    """Every way the run could have lost, doubled or leaked something, as a tally."""
    plan = run.plan
    invocations = len(run.responses) + len(run.raised)
    tally = Tally("hostile input", records=plan.user_records, invocations=invocations)
    for name in run.raised:
        tally.problems.append(f"the handler raised {name}")
    for n, response in enumerate(run.responses, 1):
        if response != {"batchItemFailures": []}:
            tally.problems.append(f"batch {n} reported failures for bad input: {response}")
    for n, result in enumerate(run.results, 1):
        if result is None or not result.counts.balanced:
            tally.problems.append(f"batch {n}: records != processed + filtered + dead_lettered + failed")
    _check_events(run, tally)
    _check_letters(run, tally)
    tally.filtered = sum(r.counts.filtered for r in run.results if r is not None)
    for leak in find_leaks([*log_lines_of(run.logs), *response_texts(run.responses)]):
        tally.leak(leak)
    return tally


def log_lines_of(text: str) -> list[tuple[str, str]]:
    import io

    return log_lines(io.StringIO(text))


def _check_events(run: HostileRun, tally: Tally) -> None:
    stored_ids = [event_id for event_id, _, _ in run.stored]
    tally.tracked = len(set(stored_ids))
    if len(stored_ids) != len(set(stored_ids)):
        tally.duplicate("event rows in the local store", len(stored_ids) - len(set(stored_ids)))
    stored = {event_id: (user, session) for event_id, user, session in run.stored}
    for event_id, event in run.plan.tracked.items():
        if event_id not in stored:
            tally.lose(f"event {event_id!r} never tracked")
        elif (stored[event_id][0] or stored[event_id][1]) != event.actor:
            tally.problems.append(f"event {event_id!r} tracked for the wrong user")
    for event_id in stored.keys() - run.plan.tracked.keys():
        tally.duplicate(f"event {event_id!r} tracked but not expected (a derived id that changed?)")


def _check_letters(run: HostileRun, tally: Tally) -> None:
    by_id: dict[str, DeadLetter] = {}
    for letter in run.letters:
        if letter.letter_id in by_id:
            tally.duplicate(f"dead letter {letter.letter_id}")
        by_id[letter.letter_id] = letter
    tally.dead_lettered = len(by_id)
    for letter_id, part in run.plan.dead.items():
        found = by_id.get(letter_id)
        if found is None:
            tally.lose(f"{part.kind} record {letter_id} never dead-lettered")
        elif found.raw != part.raw:
            tally.lose(f"{part.kind} record {letter_id} dead-lettered without its original bytes")
        elif not found.reason.startswith(part.reason) or not found.reason:
            want = part.reason
            tally.problems.append(f"{part.kind} {letter_id}: reason {found.reason!r}, want {want!r}...")
    for letter_id in by_id.keys() - run.plan.dead.keys():
        tally.problems.append(f"valid record {letter_id} dead-lettered: {by_id[letter_id].reason!r}")
