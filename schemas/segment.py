"""Where one static segment's import stands (``SegmentImporter``): Pinpoint's import job, or a local file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImportedSegment:
    """Where one segment's import stands. ``status`` is Pinpoint's JobStatus (or ``WRITTEN`` locally)."""

    name: str
    location: str  # the CSV the import reads (s3://... or a local path)
    status: str
    job_id: str | None = None
    failures: int = 0  # rows the import job could not take (TotalFailures)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_IMPORT_STATUSES

    @property
    def complete(self) -> bool:
        """Every row made it into the segment."""
        return self.status in SUCCESSFUL_IMPORT_STATUSES and self.failures == 0


# https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-jobs-import-job-id.html
TERMINAL_IMPORT_STATUSES = frozenset({"COMPLETED", "FAILED", "WRITTEN"})
SUCCESSFUL_IMPORT_STATUSES = frozenset({"COMPLETED", "WRITTEN"})
