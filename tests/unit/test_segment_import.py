"""Batch segment output -> one static segment per query: every line, all endpoints of each user, clear
messages for what was left out, and never a half-imported segment without saying so."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from consumers.config.engagement_settings import EngagementSettings
from consumers.config.settings import Settings
from consumers.engagement.segment_import import SegmentImport
from consumers.engagement.segment_queries import (
    OutputError,
    RunNamer,
    parse_output,
    slug,
)
from consumers.segment_import import handle_event
from destinations.aws.pinpoint_import import PinpointEndpointDirectory, PinpointSegmentImporter
from destinations.segment_csv import segment_csv
from schemas.errors import PermanentError, PueError, RetryableError
from schemas.segment import ImportedSegment

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "engagement"
APP_ID = "pinpoint-app-1"
ROLE = "arn:aws:iam::111122223333:role/pinpoint-import"
NAMER = RunNamer("20261102T100000", "abc123")


def sample_lines(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines(keepends=True)


def rows(body: bytes) -> list[str]:
    table = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert table[0] == ["Id"]
    return [row[0] for row in table[1:]]


# -- reading the output ---------------------------------------------------------------------------------


def test_every_line_of_an_item_affinity_output_is_a_query() -> None:
    parsed = parse_output(sample_lines("item_affinity.json.out"))
    assert [(q.line, q.label, q.users) for q in parsed.queries] == [
        (1, "item 105", ("106", "107", "49")),
        (2, "item 106", ("105", "107", "49")),
        (3, "item 441", ("2", "442", "435")),
    ]
    assert parsed.problems == []


def test_item_attribute_affinity_and_older_users_list_outputs() -> None:
    attributes = parse_output(sample_lines("item_attribute_affinity.json.out")).queries
    assert attributes[0].label == 'ITEMS.genres = "Comedy" AND ITEMS.genres = "Action"'
    assert attributes[1].users == ("87", "31", "129")
    assert parse_output(sample_lines("users_list.json.out")).queries[0].users == ("106", "107")


def test_bad_lines_are_named_with_their_line_number_and_the_rest_is_used() -> None:
    parsed = parse_output(sample_lines("with_problems.json.out"))
    assert [(q.line, q.users) for q in parsed.queries] == [(1, ("106", "107")), (5, ())]
    assert [p.line for p in parsed.problems] == [2, 3]
    assert "not JSON" in parsed.problems[0].reason
    assert "Personalize reported an error for item 999" in parsed.problems[1].reason


@pytest.mark.parametrize("lines", [[], ["\n", "  \n"]])
def test_an_empty_output_is_refused_as_a_whole(lines: list[str]) -> None:
    with pytest.raises(OutputError, match="empty"):
        parse_output(lines)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"output": {"recommendedUsers": ["1"]}}', "no query"),
        ('{"input": {"itemId": "1"}, "output": {}}', "no output.recommendedUsers"),
        ('{"input": {"itemId": "1"}, "output": {"recommendedUsers": [1, null]}}', "user id strings"),
    ],
)
def test_malformed_lines_say_what_is_wrong(line: str, reason: str) -> None:
    parsed = parse_output([line])
    assert parsed.queries == [] and reason in parsed.problems[0].reason


def test_segment_names_are_readable_and_unique_across_runs_in_the_same_second() -> None:
    query = parse_output(sample_lines("item_attribute_affinity.json.out")).queries[0]
    now = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)
    first, second = RunNamer.new(now).name(query), RunNamer.new(now).name(query)
    assert first != second
    assert first.startswith("genres-comedy-and-genres-action-20261102T100000-")
    assert first.endswith("-l1")
    assert slug("item 105") == "item-105" and slug("!!!") == "segment"
    assert len(slug("ITEMS.x = " + "y" * 200)) <= 40


def test_the_csv_quotes_what_needs_quoting() -> None:
    assert rows(segment_csv(["a", 'b,"c"'])) == ["a", 'b,"c"']
    with pytest.raises(PermanentError) as caught:
        segment_csv(["x" * 50], max_bytes=20)
    assert caught.value.code == "SegmentTooLarge"


# -- importing, with in-memory adapters -------------------------------------------------------------------


class Directory:
    def __init__(self, endpoints: dict[str, list[str]], failing: dict[str, PueError] | None = None) -> None:
        self.endpoints = endpoints
        self.failing = failing or {}
        self.asked: list[str] = []

    def endpoints_for(self, user_id: str) -> list[str]:
        self.asked.append(user_id)
        if user_id in self.failing:
            raise self.failing[user_id]
        return list(self.endpoints.get(user_id, []))


class Importer:
    def __init__(self, statuses: Sequence[ImportedSegment | None] = (), max_bytes: int = 1 << 30) -> None:
        self.files: dict[str, list[str]] = {}
        self.refreshes = list(statuses)
        self.max_bytes = max_bytes

    def import_segment(self, name: str, endpoint_ids: Sequence[str]) -> ImportedSegment:
        self.files[name] = rows(segment_csv(endpoint_ids, self.max_bytes))
        return ImportedSegment(name, f"mem://{name}", "CREATED", job_id=f"job-{len(self.files)}")

    def refresh(self, segment: ImportedSegment) -> ImportedSegment:
        status = self.refreshes.pop(0) if self.refreshes else None
        return status or ImportedSegment(segment.name, segment.location, "COMPLETED", segment.job_id)


ENDPOINTS = {
    "106": ["106-email", "106-sms"],
    "107": ["107-push"],
    "105": ["105-email", "105-push", "105-sms"],
    "2": ["2-email"],
    "442": ["442-sms", "shared-device"],
    "435": ["shared-device"],  # two users on one device: the segment lists it once
}


def test_several_query_lines_become_one_csv_each_with_every_endpoint_of_every_user() -> None:
    directory, importer = Directory(ENDPOINTS), Importer()
    report = SegmentImport(directory, importer, max_workers=4, namer=lambda: NAMER).run(
        sample_lines("item_affinity.json.out"), source="test"
    )
    assert sorted(directory.asked) == sorted({"106", "107", "49", "105", "2", "442", "435"})  # once each
    assert importer.files == {
        "item-105-20261102T100000-abc123-l1": ["106-email", "106-sms", "107-push"],
        "item-106-20261102T100000-abc123-l2": ["105-email", "105-push", "105-sms", "107-push"],
        "item-441-20261102T100000-abc123-l3": ["2-email", "442-sms", "shared-device"],
    }
    first = report.segments[0]
    assert (first.users, first.users_without_endpoints, first.endpoints) == (3, 1, 3)  # 49 has no endpoint
    assert [s.status for s in report.segments] == ["started"] * 3
    assert report.ok and report.summary()["imported"] == 3


def test_a_segment_with_a_failed_lookup_is_not_imported_and_says_why() -> None:
    directory = Directory(
        ENDPOINTS, {"2": RetryableError("throttled", service="pinpoint", code="TooManyRequests")}
    )
    importer = Importer()
    report = SegmentImport(directory, importer, namer=lambda: NAMER).run(
        sample_lines("item_affinity.json.out"), source="t"
    )
    assert len(importer.files) == 2
    third = report.segments[2]
    assert third.status == "skipped"
    assert "1 of 3 user(s) could not be looked up" in third.message and "partial segment" in third.message
    assert not report.ok and report.summary()["notImported"] == 1


def test_empty_oversize_and_endpointless_segments_are_reported_not_imported() -> None:
    lines = [
        '{"input": {"itemId": "a"}, "output": {"recommendedUsers": []}}',
        '{"input": {"itemId": "b"}, "output": {"recommendedUsers": ["nobody"]}}',
        '{"input": {"itemId": "c"}, "output": {"recommendedUsers": ["105", "106"]}}',
    ]
    importer = Importer(max_bytes=20)
    report = SegmentImport(Directory(ENDPOINTS), importer, namer=lambda: NAMER).run(lines, source="t")
    messages = [s.message for s in report.segments]
    assert "no users" in messages[0]
    assert "none of the 1 user(s) has an endpoint" in messages[1]
    assert "not imported" in messages[2] and "at most 20" in messages[2]
    assert [s.status for s in report.segments] == ["skipped"] * 3 and importer.files == {}


def test_following_the_jobs_reports_completed_and_partial_imports() -> None:
    importer = Importer(
        [
            ImportedSegment("x", "mem://x", "PROCESSING", "job-1"),
            None,  # job-2 completes
            ImportedSegment("y", "mem://y", "COMPLETED", "job-3", failures=2),
            None,  # job-1 completes on the second poll
        ]
    )
    ticks = iter(range(100))
    report = SegmentImport(
        Directory(ENDPOINTS),
        importer,
        wait_seconds=50,
        namer=lambda: NAMER,
        clock=lambda: float(next(ticks)),
        sleep=lambda _: None,
    ).run(sample_lines("item_affinity.json.out"), source="t")
    assert [s.status for s in report.segments] == ["imported", "imported", "partial"]
    assert "rejected 2 row(s)" in report.segments[2].message
    assert not report.ok


# -- against Pinpoint (Stubber) and S3 (moto) ------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[tuple[Any, Stubber, Any]]:
    with mock_aws():
        credentials = {
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "x",
        }
        pinpoint, s3 = boto3.client("pinpoint", **credentials), boto3.client("s3", **credentials)
        s3.create_bucket(Bucket="pue-batch-segments")
        with Stubber(pinpoint) as stubber:
            yield pinpoint, stubber, s3
            stubber.assert_no_pending_responses()


def expect_user_endpoints(stubber: Stubber, users: Sequence[str]) -> None:
    for user in users:
        params = {"ApplicationId": APP_ID, "UserId": user}
        if user not in ENDPOINTS:
            stubber.add_client_error(
                "get_user_endpoints", "NotFoundException", http_status_code=404, expected_params=params
            )
            continue
        items = [{"Id": endpoint, "User": {"UserId": user}} for endpoint in ENDPOINTS[user]]
        stubber.add_response("get_user_endpoints", {"EndpointsResponse": {"Item": items}}, params)


def test_an_s3_event_imports_one_segment_per_query_into_pinpoint(aws: tuple[Any, Stubber, Any]) -> None:
    pinpoint, stubber, s3 = aws
    event = json.loads((SAMPLES / "s3_object_created_event.json").read_text())
    key = "output/item affinity.json.out"  # the event's key is URL-encoded ("+" for a space)
    s3.put_object(
        Bucket="pue-batch-segments", Key=key, Body=(SAMPLES / "item_affinity.json.out").read_bytes()
    )
    expect_user_endpoints(stubber, ["106", "107", "49", "105", "2", "442", "435"])
    names = [f"item-{i}-20261102T100000-abc123-l{n}" for n, i in enumerate(("105", "106", "441"), start=1)]
    for n, name in enumerate(names):
        request = {
            "DefineSegment": True,
            "Format": "CSV",
            "RoleArn": ROLE,
            "S3Url": f"s3://pue-batch-segments/pue/segments/{name}.csv",
            "SegmentName": name,
        }
        job: dict[str, Any] = {
            "Id": f"job-{n}",
            "JobStatus": "CREATED",
            "CreationDate": "now",
            "Type": "IMPORT",
            "ApplicationId": APP_ID,
        }
        job["Definition"] = {"Format": "CSV", "RoleArn": ROLE, "S3Url": request["S3Url"]}
        stubber.add_response(
            "create_import_job",
            {"ImportJobResponse": job},
            {"ApplicationId": APP_ID, "ImportJobRequest": request},
        )
    importer = PinpointSegmentImporter(
        pinpoint,
        s3,
        application_id=APP_ID,
        bucket="pue-batch-segments",
        prefix="pue/segments/",
        role_arn=ROLE,
    )
    runner = SegmentImport(
        PinpointEndpointDirectory(pinpoint, APP_ID), importer, max_workers=1, namer=lambda: NAMER
    )
    [summary] = handle_event(event, runner, s3)
    assert summary["ok"] and summary["source"] == f"s3://pue-batch-segments/{key}"
    assert [s["job_id"] for s in summary["segments"]] == ["job-0", "job-1", "job-2"]
    uploaded = {
        name: rows(s3.get_object(Bucket="pue-batch-segments", Key=f"pue/segments/{name}.csv")["Body"].read())
        for name in names
    }
    assert uploaded == {
        names[0]: ["106-email", "106-sms", "107-push"],
        names[1]: ["105-email", "105-push", "105-sms", "107-push"],
        names[2]: ["2-email", "442-sms", "shared-device"],
    }


def test_a_failed_import_job_says_where_the_file_is(aws: tuple[Any, Stubber, Any]) -> None:
    pinpoint, stubber, s3 = aws
    stubber.add_client_error("create_import_job", "BadRequestException", http_status_code=400)
    importer = PinpointSegmentImporter(
        pinpoint, s3, application_id=APP_ID, bucket="pue-batch-segments", prefix="", role_arn=ROLE
    )
    with pytest.raises(PermanentError) as caught:
        importer.import_segment("seg", ["e1"])
    assert "s3://pue-batch-segments/seg.csv" in str(caught.value) and "no segment was created" in str(
        caught.value
    )


def test_s3_objects_that_are_not_batch_outputs_are_skipped() -> None:
    event = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "pue/segments/x.csv"}}}]}
    assert handle_event(event, SegmentImport(Directory({}), Importer()), s3=None) == []


def test_importing_into_pinpoint_needs_its_settings() -> None:
    settings = Settings(backend="aws", tracking_id="t", campaign_arn="arn:x", dead_letter_queue_url="q")
    problems = EngagementSettings().segment_import_problems(settings)
    assert len(problems) == 3 and all("PUE_BACKEND=aws" in p for p in problems)
    assert EngagementSettings().segment_import_problems(Settings()) == []


def test_a_hostile_output_line_is_a_problem_not_a_crash() -> None:
    """Issue 14: nesting past the stack and numbers past int_max_str_digits are line problems."""
    parsed = parse_output(["[" * 100_000 + "]" * 100_000, "1" * 5_000])
    assert [p.reason for p in parsed.problems] == ["not JSON (a number too long or nesting too deep)"] * 2
