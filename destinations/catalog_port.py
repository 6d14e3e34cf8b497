"""Ports of the engagement paths: the item catalog, endpoint lookup, segment import and the message ledger.

They sit beside ``destinations.ports`` and follow its contract: ``RetryableError`` for transient failures,
``PermanentError`` when the input can never succeed, anything else is a bug; adapters are thread-safe.
The local backend implements each of them (``LocalStore`` is an ``ItemCatalog`` as it is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas.errors import PermanentError
from schemas.limits import PINPOINT_IMPORT_JOB_MAX_BYTES

# The header Pinpoint reads to match imported rows to existing endpoints.
SEGMENT_CSV_HEADER = "Id"


class ItemCatalog(Protocol):
    """Item metadata shaped like a Personalize items dataset (local store, DynamoDB table)."""

    def items(self, item_ids: Sequence[str]) -> dict[str, dict[str, object]]:
        """ITEM_ID -> the item's other fields, for the known ids among ``item_ids``; unknown ids left out."""
        ...


class EndpointDirectory(Protocol):
    """Who can be reached where: a user's Pinpoint endpoint ids (GetUserEndpoints)."""

    def endpoints_for(self, user_id: str) -> list[str]:
        """Every endpoint id of the user, empty when the user has none."""
        ...


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


class SegmentImporter(Protocol):
    """Turns a list of endpoint ids into a named static segment (Pinpoint CreateImportJob)."""

    def import_segment(self, name: str, endpoint_ids: Sequence[str]) -> ImportedSegment:
        """Start importing; ``PermanentError`` (code ``SegmentTooLarge``) when the file would be too big."""
        ...

    def refresh(self, segment: ImportedSegment) -> ImportedSegment:
        """The import's current status (GetImportJob)."""
        ...


class MessageLedger(Protocol):
    """Remembers which messages were sent, so each user gets at most one per quiet period and a redelivered
    batch never sends twice. ``claim`` before sending; ``release`` when the send failed and may be retried."""

    def claim(self, user_id: str, message_id: str, now: float, quiet_seconds: int) -> bool:
        """True when this message may be sent now (and is recorded as sent); False to skip it."""
        ...

    def release(self, user_id: str, message_id: str) -> None:
        """Forget the claim of ``message_id`` (and only that one), so a retry may send it."""
        ...


def segment_csv(endpoint_ids: Sequence[str], max_bytes: int = PINPOINT_IMPORT_JOB_MAX_BYTES) -> bytes:
    """The import file for a static segment of existing endpoints: one ``Id`` column, one row per endpoint.

    ``PermanentError`` when the file exceeds what one import job can take: importing part of it would leave a
    half segment, so nothing is imported.
    """
    rows = [SEGMENT_CSV_HEADER, *(_csv_field(endpoint_id) for endpoint_id in endpoint_ids)]
    body = ("\r\n".join(rows) + "\r\n").encode("utf-8")
    if len(body) > max_bytes:
        raise PermanentError(
            f"the segment file would be {len(body):,} bytes; one import job takes at most {max_bytes:,}",
            service="segment-import",
            code="SegmentTooLarge",
        )
    return body


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
