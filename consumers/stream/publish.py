"""The last step of a batch: every refreshed user's list to every sink, one call per sink for the whole batch.

Failures come back per user: a retryable one (or a ``ConfigError``: the deployment is wrong, the operator must
act) fails that user's records for retry; a permanent one is logged and counted as ``refresh_rejected`` and
the records stand (the events were tracked; only the write-back was refused).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor

from consumers.stream import accounting
from consumers.stream.accounting import Entry, reason_of
from destinations.ports import RecommendationSink
from schemas.batch import BatchCounts, count_reason
from schemas.errors import ConfigError
from schemas.recommendation import Recommendation

log = logging.getLogger("pue.pipeline")

# Why a sink did not take an anonymous visitor's list (PUE_REFRESH_ANONYMOUS): it keys what it holds by user.
NO_ANONYMOUS_PROFILE = "no profile for an anonymous visitor"


def publish(
    pool: Executor,
    sinks: Sequence[RecommendationSink],
    recommendations: list[Recommendation],
    entries_of: Mapping[str, Collection[int]],
    entries: list[Entry],
    counts: BatchCounts,
) -> set[str]:
    """Publish ``recommendations`` to every sink; the keys (``Recommendation.key``) of the lists every sink
    took. ``entries_of``: each list's record indices in ``entries`` by key, which get the failure of a sink
    that must be retried. An anonymous visitor's list goes only to the sinks that can hold one; each other
    sink's skip is counted under its name (``anonymous_skips``): nothing to retry, nothing lost unsaid."""
    if not recommendations:
        return set()
    failed_users: set[str] = set()
    rejected_users: set[str] = set()
    anonymous = sum(r.anonymous for r in recommendations)
    for sink in sinks if anonymous else ():
        if not sink.takes_anonymous:
            counts.anonymous_skipped += anonymous
            count_reason(counts.anonymous_skips, f"{sink.name}: {NO_ANONYMOUS_PROFILE}", anonymous)
    # Sinks are independent services: publish to all of them at once, so the batch waits for the slowest
    # sink, not for their sum (Segment's identify requests overlap Pinpoint's lookups; figure 2 of
    # tests/benchmarks). The pool is idle here: every user's work has finished.
    reports = list(pool.map(lambda sink: accounting.deliver(sink, _lists_for(sink, recommendations)), sinks))
    for sink, failures in zip(sinks, reports, strict=True):
        for user_id, error in failures.items():
            failed_users.add(user_id)
            # A ConfigError (credentials, region) is the deployment's problem: retry, don't skip.
            if not error.retryable and not isinstance(error, ConfigError):
                log.warning(
                    "sink rejected a user",
                    extra={"fields": {"sink": sink.name, "reason": reason_of(error)}},
                )
                rejected_users.add(user_id)
                continue
            for index in entries_of.get(user_id, ()):
                entries[index].failure = f"{sink.name}: {reason_of(error)}"
                entries[index].deployment_fault = isinstance(error, ConfigError)
    counts.refresh_rejected += len(rejected_users)
    return {r.key for r in recommendations} - failed_users


def _lists_for(sink: RecommendationSink, recommendations: list[Recommendation]) -> list[Recommendation]:
    if sink.takes_anonymous:
        return recommendations
    return [r for r in recommendations if not r.anonymous]
