"""Reliability 2, faults: 20 % throttling, 5 % 5xx, timeouts and resets on every cloud call, pue's real
AWS and Segment clients (PUE_BACKEND=aws, AWS_ENDPOINT_URL, SEGMENT_API_HOST, SEGMENT_PROFILE_API_HOST at the
loopback fake), Lambda's retries emulated. After the retries: every valid event reached the tracker, in each
user's timestamp order; every refreshed user's traits and endpoint attributes reflect recommendations fetched
after the user's last event; every poison record is in the dead-letter queue with its bytes; and each
delivery's ``records == processed + filtered + dead_lettered + failed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.functional.reliability_faults_run import (
    ISSUE_RATES,
    check_faults,
    repeats,
    run_faults,
    version_item,
    versioned_fake,
)
from tests.functional.reliability_figures import report
from tests.support.cloud_fake import CloudFake, FaultRates
from tests.support.lambda_retry import Verdict

SUITE_RECORDS: Final = 60
STRESS_RECORDS: Final = 2_000
SEED: Final = 2026


@pytest.fixture
def fake() -> Iterator[CloudFake]:
    with versioned_fake(ISSUE_RATES, seed=SEED) as running:
        yield running


def test_nothing_lost_or_doubled_under_faults(tmp_path: Path, fake: CloudFake) -> None:
    run = run_faults(tmp_path, fake, records=SUITE_RECORDS, seed=SEED)
    tally = check_faults(run)
    assert tally.problems == []
    # The faults did happen and did make Lambda retry: the run is not a fair-weather run.
    assert run.faults.get("throttle", 0) > 0 and run.faults.get("server_error", 0) > 0
    assert any(d.verdict is Verdict.PARTIAL for d in run.outcome.deliveries)
    assert tally.tracked == len(run.plan.tracked) and tally.dead_lettered == len(run.plan.dead) > 0


@pytest.mark.stress
def test_faults_full_run(tmp_path: Path, fake: CloudFake) -> None:
    run = run_faults(tmp_path, fake, records=STRESS_RECORDS, seed=SEED)
    tally = check_faults(run)
    retried = sum(1 for d in run.outcome.deliveries if d.verdict is not Verdict.SUCCESS)
    report(tally, faults_by_kind=run.faults, repeats_absorbed=repeats(run), partial_deliveries=retried)
    assert tally.problems == []


def test_the_check_catches_a_stale_refresh(tmp_path: Path) -> None:
    """The oracle can fail: traits that predate a user's last event are reported."""
    with versioned_fake(FaultRates(), seed=SEED) as quiet:
        run = run_faults(tmp_path, quiet, records=30, seed=SEED)
    assert check_faults(run).problems == []
    message_id, user, items = run.identifies[-1]
    run.identifies.append((message_id, user, [version_item(0), *items[1:]]))
    assert any("predate" in problem for problem in check_faults(run).problems)


def test_the_check_catches_events_out_of_order(tmp_path: Path) -> None:
    with versioned_fake(FaultRates(), seed=SEED) as quiet:
        run = run_faults(tmp_path, quiet, records=30, seed=SEED)
    user, ids = max(run.events.items(), key=lambda item: len(item[1]))
    run.events[user] = list(reversed(ids))
    assert any("out of timestamp order" in problem for problem in check_faults(run).problems)
