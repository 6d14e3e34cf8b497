"""Batch segments into static segments: every query line of a Personalize batch segment job's output becomes
one segment of all the endpoints of its users. Lambda entry point for the S3 object-created event of the
job's output (``<input name>.out``); ``pue segment-import`` runs the same code on a file.

Nothing is half-imported without saying so: a segment whose users could not all be looked up, or whose file
would be too big, is not imported at all, and its outcome says why; an import job that rejected rows is
reported ``partial``. Users without any endpoint are counted, not fatal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from consumers.engagement.segment_queries import (
    LineProblem,
    RunNamer,
    SegmentQuery,
    parse_output,
)
from destinations.ports import EndpointDirectory, SegmentImporter
from schemas.errors import PueError
from schemas.segment import ImportedSegment

log = logging.getLogger("pue.segment_import")
OUTPUT_SUFFIX: Final = ".out"  # Personalize names each output file after its input file, plus .out
POLL_SECONDS: Final = 5.0
# Outcomes that leave a whole segment behind (or, for written/started, its whole file or job).
GOOD_STATUSES: Final = frozenset({"imported", "started", "written"})


@dataclass(slots=True)
class SegmentOutcome:
    query: str
    line: int
    name: str
    users: int
    users_without_endpoints: int = 0
    endpoints: int = 0
    status: str = "skipped"  # imported | started | written | partial | failed | skipped
    message: str = ""
    location: str | None = None
    job_id: str | None = None
    job_status: str | None = None
    _segment: ImportedSegment | None = field(default=None, repr=False)

    def record(self, segment: ImportedSegment) -> None:
        self._segment = segment
        self.location, self.job_id, self.job_status = segment.location, segment.job_id, segment.status
        if segment.status == "WRITTEN":
            self.status, self.message = (
                "written",
                f"{self.endpoints} endpoint(s) written to {segment.location}",
            )
        elif segment.status == "FAILED":
            self.status, self.message = "failed", "the import job failed: no segment was created"
        elif segment.finished and segment.failures:
            self.status = "partial"
            self.message = (
                f"the import job rejected {segment.failures} row(s): the segment lacks those endpoints"
            )
        elif segment.finished:
            self.status, self.message = "imported", f"segment of {self.endpoints} endpoint(s) imported"
        else:
            self.status = "started"
            self.message = f"import job {segment.job_id} is {segment.status}; check it with GetImportJob"

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["_segment"]
        return data


@dataclass(slots=True)
class ImportReport:
    source: str
    segments: list[SegmentOutcome]
    problems: list[LineProblem]

    @property
    def ok(self) -> bool:
        return not self.problems and all(s.status in GOOD_STATUSES for s in self.segments)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "segments": [s.summary() for s in self.segments],
            "lineProblems": [{"line": p.line, "reason": p.reason} for p in self.problems],
            "imported": sum(1 for s in self.segments if s.status in GOOD_STATUSES),
            "notImported": sum(1 for s in self.segments if s.status not in GOOD_STATUSES),
        }


class SegmentImport:
    """Resolves users to endpoints (concurrently, each distinct user once), imports one segment per query and,
    with ``wait_seconds``, follows the import jobs until they finish or the time is up."""

    def __init__(
        self,
        directory: EndpointDirectory,
        importer: SegmentImporter,
        *,
        max_workers: int = 16,
        wait_seconds: float = 0.0,
        namer: Callable[[], RunNamer] = RunNamer.new,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._directory = directory
        self._importer = importer
        self._max_workers = max(1, max_workers)
        self._wait_seconds = wait_seconds
        self._namer = namer
        self._clock = clock
        self._sleep = sleep

    def run(self, lines: Iterable[str | bytes], *, source: str) -> ImportReport:
        """``OutputError`` when the output as a whole is unusable; otherwise a report of every query."""
        parsed = parse_output(lines)
        namer = self._namer()
        endpoints = self._resolve(list(dict.fromkeys(u for q in parsed.queries for u in q.users)))
        outcomes = [self._import(query, namer.name(query), endpoints) for query in parsed.queries]
        self._follow(outcomes)
        return ImportReport(source, outcomes, parsed.problems)

    def _resolve(self, users: Sequence[str]) -> dict[str, list[str] | PueError]:
        def lookup(user: str) -> list[str] | PueError:
            try:
                return self._directory.endpoints_for(user)
            except PueError as error:
                return error

        if not users:
            return {}
        with ThreadPoolExecutor(
            min(self._max_workers, len(users)), thread_name_prefix="pue-segments"
        ) as pool:
            return dict(zip(users, pool.map(lookup, users), strict=True))

    def _import(
        self, query: SegmentQuery, name: str, resolved: Mapping[str, list[str] | PueError]
    ) -> SegmentOutcome:
        outcome = SegmentOutcome(query=query.label, line=query.line, name=name, users=len(query.users))
        failures = [r for u in query.users if isinstance(r := resolved[u], PueError)]
        ids = [e for u in query.users if not isinstance(r := resolved[u], PueError) for e in r]
        outcome.users_without_endpoints = sum(1 for u in query.users if resolved[u] == [])
        endpoint_ids = list(dict.fromkeys(ids))
        outcome.endpoints = len(endpoint_ids)
        if failures:
            outcome.message = (
                f"{len(failures)} of {len(query.users)} user(s) could not be looked up ({failures[0]}); "
                "not imported, to avoid a partial segment: run again"
            )
        elif not query.users:
            outcome.message = "the query returned no users: nothing to import"
        elif not endpoint_ids:
            outcome.message = f"none of the {len(query.users)} user(s) has an endpoint: nothing to import"
        else:
            try:
                outcome.record(self._importer.import_segment(name, endpoint_ids))
            except PueError as error:
                outcome.status = "skipped" if error.code in ("SegmentTooLarge", "SegmentExists") else "failed"
                outcome.message = f"not imported: {error}"
        return outcome

    def _follow(self, outcomes: list[SegmentOutcome]) -> None:
        deadline = self._clock() + self._wait_seconds
        while True:
            pending = [o for o in outcomes if o._segment is not None and not o._segment.finished]
            if not pending or self._clock() >= deadline:
                return
            self._sleep(min(POLL_SECONDS, max(0.0, deadline - self._clock())))
            for outcome in pending:
                assert outcome._segment is not None  # noqa: S101 - filtered above
                try:
                    outcome.record(self._importer.refresh(outcome._segment))
                except PueError as error:
                    outcome.message = f"import job {outcome.job_id}: status unknown ({error})"


def log_report(report: ImportReport) -> None:
    """One line per run; segment names and counts only (no user ids)."""
    fields = report.summary()
    if report.ok:
        log.info("segment import", extra={"fields": fields})
    else:
        log.error("segment import left segments or lines out", extra={"fields": fields})
