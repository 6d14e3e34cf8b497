"""The fault run: pue's real AWS and Segment clients against the loopback cloud fake injecting faults, driven
by the Lambda retry emulator, then checked against the stream's oracle (``tests.support.hostile``).

The fake's recommendations depend on what it has tracked: the first item of a user's list is
``V<n>``, n being how many distinct events of that user it held when it answered. A user's final traits
(Segment) and endpoint attributes (Pinpoint) naming ``V<all of them>`` prove they reflect recommendations
fetched after the user's last event was tracked, not before.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from unittest.mock import patch

from botocore.retries.standard import ExponentialBackoff

from consumers.bootstrap.stream import build_pipeline
from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from destinations.aws.clients import make_client
from destinations.aws.sqs_dead_letters import decode_body
from destinations.segment.personas import PersonasTraitSink
from destinations.segment.profile_api import ProfileApiPurchaseHistory
from schemas.dead_letter import DeadLetter
from schemas.traits import RECOMMENDED_PRODUCTS
from tests.functional.reliability_support import SECRETS, Tally, captured_logs, find_leaks, log_lines
from tests.support.cloud_fake import CallType, CloudFake, FaultRates
from tests.support.cloud_fake_services import CloudServices
from tests.support.hostile import ASCII_USERS, HostileStream, Plan, build_plan
from tests.support.http_receiver import RecordedRequest, Reply
from tests.support.lambda_retry import Delivery, LambdaRetryEmulator, RetryOutcome, sequence_of

# The issue's mix: 20 % throttling, 5 % 5xx, occasional timeouts; connection resets now and then too.
ISSUE_RATES: Final = FaultRates(throttle=0.20, server_error=0.05, slow=0.01, reset=0.01)
# pue's clients wait 5 s for an answer; the run waits CLIENT_TIMEOUT so a slow answer (SLOW_SECONDS, past
# it) costs about a second instead of six. The code paths are the same: a read timeout is a read timeout.
CLIENT_TIMEOUT: Final = 0.5
SLOW_SECONDS: Final = 0.8
# Lambda's own default is to retry until the records expire; the deployed template bounds it. Generous here:
# a record given up is a record lost, and the figures must show whether that happens.
MAX_RETRY_ATTEMPTS: Final = 100
# Valid kinds that reach every service, plus filtered and poison ones (the dead-letter queue is faulted too).
FAULT_KINDS: Final = (
    "viewed",
    "order",
    "anonymous",
    "reviewed",
    "kpl_valid",
    "identify",
    "unmapped",
    "truncated",
    "wrong_types",
    "over_limit",
    "kpl_corrupt_sub",
)
VERSION_PREFIX: Final = "V"
# botocore sleeps up to 1 s, then 2 s, between attempts at a throttled call. The run keeps every retry and
# scales the sleeps down, so it measures pue's behaviour rather than botocore's patience.
BACKOFF_SCALE: Final = 0.05
_botocore_delay = ExponentialBackoff.delay_amount


def _scaled_delay(self: ExponentialBackoff, context: Any) -> float:
    return float(_botocore_delay(self, context)) * BACKOFF_SCALE


class VersionedServices(CloudServices):
    """Recommendations that name how many distinct events the fake holds for the user (see module doc)."""

    def _get_recommendations(self, request: RecordedRequest) -> Reply:
        reply = super()._get_recommendations(request)
        body = request.json()
        user_id = str(body.get("userId"))
        with self.lock:
            seen = len(set(self.records.events.get(user_id, ())))
        answer = dict(reply.body)
        answer["itemList"] = [{"itemId": version_item(seen), "score": 1.0}, *answer["itemList"]]
        return Reply(reply.status, answer)


def version_item(events: int) -> str:
    return f"{VERSION_PREFIX}{events:05d}"


def versioned_fake(rates: FaultRates, *, seed: int) -> CloudFake:
    fake = CloudFake(faults=dict.fromkeys(CallType, rates), seed=seed, slow_seconds=SLOW_SECONDS)
    fake.services = VersionedServices(endpoints_per_user=lambda _user: 1, purchases=None, catalog_size=5000)
    return fake


@dataclass(slots=True)
class FaultRun:
    plan: Plan
    outcome: RetryOutcome = field(default_factory=RetryOutcome)
    logs: str = ""
    faults: dict[str, int] = field(default_factory=dict)  # by fault kind
    events: dict[str, list[str]] = field(default_factory=dict)  # what the tracker received, per user
    identifies: list[tuple[str, str, list[str]]] = field(default_factory=list)  # messageId, user, items
    endpoints: dict[str, list[str]] = field(default_factory=dict)  # endpoint id -> recommended_products
    letters: list[DeadLetter] = field(default_factory=list)


def run_faults(
    directory: Path,
    fake: CloudFake,
    *,
    records: int,
    seed: int,
    batch_size: int = 100,
    libraries_at: int | None = None,
) -> FaultRun:
    stream = HostileStream(seed, users=ASCII_USERS[:30], valid_share=0.85, kinds=FAULT_KINDS)
    run = FaultRun(build_plan(stream.records(records), batch_size=batch_size))
    env = fake.env(**SECRETS, PUE_LOG_LEVEL="DEBUG", PUE_STATE_DIR=str(directory / "state"))
    aws = {name: value for name, value in env.items() if name.startswith("AWS_")}
    # boto3 reads the endpoint and the credentials from the process environment, as in Lambda.
    with (
        patch.dict(os.environ, aws),
        patch.object(ExponentialBackoff, "delay_amount", _scaled_delay),
        captured_logs("DEBUG", libraries_at=libraries_at) as logs,
    ):
        clients = {
            service: make_client(service, read_timeout=CLIENT_TIMEOUT)
            for service in ("personalize-events", "personalize-runtime", "pinpoint", "sqs")
        }
        settings = Settings.from_env(env)
        pipeline, wiring = build_pipeline(settings, clients=clients, engagement=EngagementSettings())
        _shorten_http_timeouts(wiring.sinks, wiring.purchases)
        emulator = LambdaRetryEmulator.for_pipeline(
            pipeline, max_retry_attempts=MAX_RETRY_ATTEMPTS, batch_size=batch_size
        )
        try:
            run.outcome = emulator.run(run.plan.event())
        finally:
            pipeline.close()
    run.logs = logs.getvalue()
    _read_back(run, fake)
    return run


def _shorten_http_timeouts(sinks: Any, purchases: Any) -> None:
    for adapter in [*sinks, purchases]:
        if isinstance(adapter, PersonasTraitSink | ProfileApiPurchaseHistory):
            adapter._timeout = CLIENT_TIMEOUT


def _read_back(run: FaultRun, fake: CloudFake) -> None:
    for (_, fault), count in fake.faults().items():
        run.faults[fault.value] = run.faults.get(fault.value, 0) + count
    run.events = fake.events_by_user()
    run.identifies = [
        (i.message_id, i.user_id, list(i.traits.get(RECOMMENDED_PRODUCTS) or [])) for i in fake.identifies()
    ]
    run.endpoints = {
        endpoint: list(attributes.get(RECOMMENDED_PRODUCTS) or [])
        for endpoint, attributes in fake.endpoint_attributes().items()
    }
    for message in fake.dead_letters():
        raw, meta = decode_body(message.body)
        run.letters.append(
            DeadLetter(
                raw,
                str(meta["reason"]),
                str(meta["shardId"]),
                str(meta["sequenceNumber"]),
                meta["subSequenceNumber"],
            )
        )


def order_key(event_id: str) -> tuple[int, int]:
    """Stream order of a generated event id (``m0000042`` or ``m0000042#3``): its timestamp order too."""
    serial, _, index = event_id.partition("#")
    return int(serial.lstrip("m")), int(index or 0)


def check_faults(run: FaultRun) -> Tally:
    plan = run.plan
    tally = Tally("faults", records=plan.user_records, invocations=run.outcome.invocations)
    tally.faults = sum(run.faults.values())
    _check_steps(run, tally)
    for sequence in run.outcome.abandoned:
        tally.lose(f"record {sequence} given up after {MAX_RETRY_ATTEMPTS} retries")
    _check_events(run, tally)
    _check_refreshes(run, tally)
    _check_letters(run, tally)
    tally.filtered = plan.filtered
    responses = [
        (f"delivery {n}", repr(d.failed) + repr(d.error)) for n, d in enumerate(run.outcome.deliveries)
    ]
    for leak in find_leaks([*log_lines(io.StringIO(run.logs)), *responses]):
        tally.leak(leak)
    return tally


def _check_steps(run: FaultRun, tally: Tally) -> None:
    """Every delivery: records == processed + filtered + dead_lettered + failed, over the right records."""
    parts = {sequence_of(record): len(hostile.parts) for record, hostile in _records(run.plan)}
    for n, delivery in enumerate(run.outcome.deliveries, 1):
        counts = delivery.result.counts if delivery.result is not None else None
        expected = sum(parts[s] for s in delivery.sequence_numbers)
        if counts is None or not counts.balanced or counts.records != expected:
            tally.problems.append(f"delivery {n}: accounting does not balance: {_describe(delivery)}")
        elif counts.failed and not delivery.failed:
            tally.problems.append(f"delivery {n}: {counts.failed} failed records, none reported")


def _records(plan: Plan) -> list[tuple[Mapping[str, Any], Any]]:
    return list(zip(plan.all_records, plan.records, strict=True))


def _describe(delivery: Delivery) -> str:
    counts = delivery.result.counts.summary() if delivery.result is not None else None
    return f"{len(delivery.sequence_numbers)} records, {delivery.verdict}, counts {counts}"


def _check_events(run: FaultRun, tally: Tally) -> None:
    received = Counter(e for ids in run.events.values() for e in ids)
    tally.tracked = sum(1 for event_id in run.plan.tracked if event_id in received)
    by_user: dict[str, list[str]] = {}
    for event_id, event in run.plan.tracked.items():
        if event_id not in run.events.get(event.actor, ()):
            tally.lose(f"event {event_id} never reached the tracker for its user")
        by_user.setdefault(event.actor, []).append(event_id)
    for event_id in received.keys() - run.plan.tracked.keys():
        tally.duplicate(f"event {event_id} tracked but not in the stream")
    for user, ids in run.events.items():
        first_seen = list(dict.fromkeys(ids))
        if first_seen != sorted(first_seen, key=order_key):
            tally.problems.append(f"{user}: events reached the tracker out of timestamp order")


def _check_refreshes(run: FaultRun, tally: Tally) -> None:
    expected: dict[str, int] = Counter(e.user_id for e in run.plan.tracked.values() if e.user_id)
    latest: dict[str, list[str]] = {user: items for _, user, items in run.identifies}
    for user, events in expected.items():
        want = version_item(events)
        traits = latest.get(user)
        if traits is None:
            tally.lose(f"{user}: traits never refreshed")
        elif not traits or traits[0] != want:
            tally.problems.append(f"{user}: traits {traits[:1]} predate its last event (want {want})")
        attributes = run.endpoints.get(f"{user}-ep0")
        if attributes is None or not attributes or attributes[0] != want:
            tally.problems.append(f"{user}: endpoint attributes {attributes and attributes[:1]}, want {want}")


def _check_letters(run: FaultRun, tally: Tally) -> None:
    by_id = {letter.letter_id: letter for letter in run.letters}
    tally.dead_lettered = len(by_id)
    for letter_id, part in run.plan.dead.items():
        found = by_id.get(letter_id)
        if found is None:
            tally.lose(f"{part.kind} record {letter_id} never dead-lettered")
        elif found.raw != part.raw or not found.reason.startswith(part.reason):
            tally.lose(f"{part.kind} record {letter_id} dead-lettered with the wrong bytes or reason")
    for letter_id in by_id.keys() - run.plan.dead.keys():
        tally.duplicate(f"dead letter {letter_id} for a record that is not poison")


def repeats(run: FaultRun) -> int:
    """Effects the services received more than once (absorbed by event ids, message ids, letter ids)."""
    events = sum(len(ids) - len(set(ids)) for ids in run.events.values())
    identifies = len(run.identifies) - len({m for m, _, _ in run.identifies})
    letters = len(run.letters) - len({letter.letter_id for letter in run.letters})
    return events + identifies + letters
