"""A loopback stand-in for Amazon Pinpoint's import jobs (legacy path), for the segment import function.

Serves GetUserEndpoints (one endpoint per user), CreateImportJob and GetImportJob (every job completes at
once) on the REST paths botocore uses; the jobs are kept, and every raw request is recorded by the
``HttpReceiver`` underneath. The stream's Pinpoint endpoint sink uses tests/support/cloud_fake.py instead.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any
from urllib.parse import unquote

from tests.rehearsal.stand_in import LoopbackStandIn
from tests.support.http_receiver import RecordedRequest, Reply


class PinpointImportStandIn(LoopbackStandIn):
    def __init__(self, application_id: str) -> None:
        super().__init__()
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        base = f"/v1/apps/{application_id}"
        self.receiver.route(f"{base}/users/*", self._endpoints)
        self.receiver.route(f"{base}/jobs/import*", self._jobs)

    def _endpoints(self, request: RecordedRequest) -> Reply:
        user = unquote(request.path.rsplit("/", 1)[1])
        return Reply(200, {"Item": [{"Id": f"{user}-ep", "ChannelType": "EMAIL", "User": {"UserId": user}}]})

    def _jobs(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if request.method == "POST":
                job_id = f"job-{next(self._ids)}"
                self.jobs[job_id] = {
                    **request.json(),
                    "Id": job_id,
                    "JobStatus": "COMPLETED",
                    "TotalFailures": 0,
                }
                return Reply(201, self.jobs[job_id])  # ImportJobResponse is the whole body (the payload)
            job = self.jobs.get(request.path.rsplit("/", 1)[1])
        if job is None:
            return Reply(404, {"Message": "no such job"}, headers={"x-amzn-ErrorType": "NotFoundException"})
        return Reply(200, job)
