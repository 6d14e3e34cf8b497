"""Amazon Pinpoint static segments from endpoint lists: ``EndpointDirectory`` and ``SegmentImporter``.

A user's endpoints come from GetUserEndpoints (all of them: email, SMS, push...). A segment is an ``Id``-only
CSV uploaded to S3, then imported with CreateImportJob and ``DefineSegment`` on; Pinpoint assumes the given
role to read the file.
GetUserEndpoints:
https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-users-user-id.html
CreateImportJob: https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-jobs-import.html
GetImportJob: https://docs.aws.amazon.com/pinpoint/latest/apireference/apps-application-id-jobs-import-job-id.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from destinations.aws.errors import BOTO_ERRORS, error_code, translate_client_error, translated
from destinations.segment_csv import segment_csv
from schemas.limits import PINPOINT_IMPORT_JOB_MAX_BYTES
from schemas.segment import ImportedSegment

SERVICE: Final = "pinpoint"


class PinpointEndpointDirectory:
    """Every endpoint id of a user; a user Pinpoint does not know (NotFoundException) has none."""

    def __init__(self, client: Any, application_id: str) -> None:
        self._client = client
        self._application_id = application_id

    def endpoints_for(self, user_id: str) -> list[str]:
        try:
            response = self._client.get_user_endpoints(ApplicationId=self._application_id, UserId=user_id)
        except BOTO_ERRORS as error:
            if error_code(error) == "NotFoundException":
                return []
            raise translate_client_error(error, service=SERVICE) from error
        items = response.get("EndpointsResponse", {}).get("Item", [])
        return list(dict.fromkeys(str(item["Id"]) for item in items if item.get("Id")))


class PinpointSegmentImporter:
    """Uploads ``<prefix>/<segment name>.csv`` to the bucket and starts an import job defining the segment.

    A failed upload leaves nothing behind. If the upload worked but CreateImportJob failed, the error says
    where the file is, so the import can be started by hand; no segment exists in that case.
    """

    def __init__(
        self,
        pinpoint: Any,
        s3: Any,
        *,
        application_id: str,
        bucket: str,
        prefix: str,
        role_arn: str,
        max_bytes: int = PINPOINT_IMPORT_JOB_MAX_BYTES,
    ) -> None:
        self._pinpoint = pinpoint
        self._s3 = s3
        self._application_id = application_id
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._role_arn = role_arn
        self._max_bytes = max_bytes

    def import_segment(self, name: str, endpoint_ids: Sequence[str]) -> ImportedSegment:
        body = segment_csv(endpoint_ids, self._max_bytes)
        key = f"{self._prefix}/{name}.csv" if self._prefix else f"{name}.csv"
        location = f"s3://{self._bucket}/{key}"
        with translated("s3"):
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="text/csv")
        try:
            response = self._pinpoint.create_import_job(
                ApplicationId=self._application_id,
                ImportJobRequest={
                    "DefineSegment": True,
                    "Format": "CSV",
                    "RoleArn": self._role_arn,
                    "S3Url": location,
                    "SegmentName": name,
                },
            )
        except BOTO_ERRORS as error:
            failure = translate_client_error(error, service=SERVICE)
            failure.message = f"{failure.message}; the file is at {location}, no segment was created"
            raise failure from error
        return _segment(name, location, response.get("ImportJobResponse", {}))

    def refresh(self, segment: ImportedSegment) -> ImportedSegment:
        if segment.job_id is None:
            return segment
        with translated(SERVICE):
            response = self._pinpoint.get_import_job(ApplicationId=self._application_id, JobId=segment.job_id)
        return _segment(segment.name, segment.location, response.get("ImportJobResponse", {}))


def _segment(name: str, location: str, job: Mapping[str, Any]) -> ImportedSegment:
    return ImportedSegment(
        name=name,
        location=location,
        status=str(job.get("JobStatus") or "UNKNOWN"),
        job_id=str(job["Id"]) if job.get("Id") else None,
        failures=int(job.get("TotalFailures") or 0),
    )
