"""The import file of a static segment of existing endpoints (Pinpoint CreateImportJob, and the local
importer that writes the same file): one ``Id`` column, one row per endpoint, RFC 4180 quoting.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.errors import PermanentError
from schemas.limits import PINPOINT_IMPORT_JOB_MAX_BYTES

# The header Pinpoint reads to match imported rows to existing endpoints.
SEGMENT_CSV_HEADER = "Id"


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
