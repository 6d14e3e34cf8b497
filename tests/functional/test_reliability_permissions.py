"""Reliability 2b, permission faults (issue 13): on top of throttling, every cloud call is now and then
refused as a broken deploy or a revoked token would refuse it (AWS AccessDeniedException 403, SQS
AccessDenied, Segment 401), through pue's real AWS and Segment clients and Lambda's retries emulated.

Expected: nothing lost, and no valid record dead-lettered for a deployment fault (every dead letter is a
poison record of the plan, with its bytes); the records a denial touched were retried and counted as
deployment faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.functional.reliability_faults_run import (
    FaultRun,
    check_faults,
    repeats,
    run_faults,
    versioned_fake,
)
from tests.functional.reliability_figures import report
from tests.support.cloud_fake import CloudFake, FaultRates
from tests.support.lambda_retry import Verdict

# One attempt in twenty denied, plus some throttling: a permission that comes and goes (a deploy rolling
# out, a token rotated) rather than one that stays broken (then Lambda retries until the operator acts).
PERMISSION_RATES: Final = FaultRates(throttle=0.05, denied=0.05)
SUITE_RECORDS: Final = 60
STRESS_RECORDS: Final = 1_000
SEED: Final = 2026  # the fault run's seed


@pytest.fixture
def fake() -> Iterator[CloudFake]:
    with versioned_fake(PERMISSION_RATES, seed=SEED) as running:
        yield running


def deployment_faults(run: FaultRun) -> int:
    """Record failures counted as deployment faults over every delivery (a record retried twice counts
    twice)."""
    return sum(d.result.counts.deployment_faults for d in run.outcome.deliveries if d.result is not None)


def valid_records_dead_lettered(run: FaultRun) -> int:
    """Dead letters for anything but the plan's poison records: what a deployment fault must never cause."""
    return len({letter.letter_id for letter in run.letters} - run.plan.dead.keys())


def test_permission_faults_lose_nothing_and_dead_letter_nothing_valid(
    tmp_path: Path, fake: CloudFake
) -> None:
    run = run_faults(tmp_path, fake, records=SUITE_RECORDS, seed=SEED)
    tally = check_faults(run)
    assert tally.problems == []
    assert run.faults.get("denied", 0) > 0  # the denials happened...
    assert deployment_faults(run) > 0  # ...failed records as deployment faults...
    assert any(d.verdict is Verdict.PARTIAL for d in run.outcome.deliveries)  # ...which Lambda retried
    assert tally.dead_lettered == len(run.plan.dead) and tally.lost == 0 and tally.duplicates == 0
    assert valid_records_dead_lettered(run) == 0


@pytest.mark.stress
def test_permission_faults_full_run(tmp_path: Path, fake: CloudFake) -> None:
    run = run_faults(tmp_path, fake, records=STRESS_RECORDS, seed=SEED)
    tally = check_faults(run)
    tally.name = "permission faults"
    retried = sum(1 for d in run.outcome.deliveries if d.verdict is not Verdict.SUCCESS)
    report(
        tally,
        faults_by_kind=run.faults,
        repeats_absorbed=repeats(run),
        partial_deliveries=retried,
        deployment_fault_records=deployment_faults(run),
        valid_records_dead_lettered=valid_records_dead_lettered(run),
    )
    assert tally.problems == [] and valid_records_dead_lettered(run) == 0
