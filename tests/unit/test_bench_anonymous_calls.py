"""The anonymous visitors' cost figure (docs/performance.md) is a count, not a timing: check it on a small
batch.

Calls are counted where they arrive (tests/benchmarks/anonymous_calls.py: the loopback cloud fake and a
counting Customer Profiles client); the setting must add, per visitor, one GetRecommendations and one search
and one write in Customer Profiles, a Segment request per 100 identifies, and nothing else."""

from __future__ import annotations

import math
import os

from tests.benchmarks.anonymous_calls import compare
from tests.benchmarks.workload import WorkloadSpec


def test_each_visitor_costs_a_get_recommendations_and_its_customer_profiles_calls_only() -> None:
    before = dict(os.environ)
    report = compare(WorkloadSpec(120, anonymous_share=0.5))
    assert dict(os.environ) == before  # the fake's endpoint does not outlive the run
    off, on = report["off"], report["on"]
    visitors = on["anonymous_refreshed"]
    assert visitors > 0 and off["anonymous_refreshed"] == 0
    assert on["users_refreshed"] == off["users_refreshed"]
    assert on["failed_records"] == off["failed_records"] == 0
    segment = math.ceil((off["users_refreshed"] + visitors) / 100) - math.ceil(off["users_refreshed"] / 100)
    expected = {
        "GetRecommendations": visitors,
        "CustomerProfiles SearchProfiles": visitors,
        "CustomerProfiles UpdateProfile": visitors,
    }
    if segment:
        expected["SegmentBatch"] = segment
    assert report["extra_calls"] == expected  # no Profile API read, no Pinpoint call for a visitor
    assert on["anonymous_skips"] == {"pinpoint: no profile for an anonymous visitor": visitors}
