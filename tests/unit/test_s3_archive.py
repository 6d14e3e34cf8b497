"""The Spark export's S3 storage (destinations/aws/s3_archive.py) on moto: listing in archive order, reading
through the export's own reader, a key gone between listing and reading, overwriting an output folder."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import pytest

from consumers.onboarding.export.reader import VANISHED, file_lines
from destinations.aws.s3_archive import S3Storage, split_url
from schemas.errors import PueError
from tests.support.moto_clients import moto_client

BUCKET = "segment-archive"


def test_listing_reading_and_a_key_that_vanished() -> None:
    with moto_client("s3") as s3:
        s3.create_bucket(Bucket=BUCKET)
        put = {
            "segment-logs/src/1793577600000/b.gz": gzip.compress(b'{"a": 1}\n\n{"a": 2}\n'),
            "segment-logs/src/1793491200000/z.gz": gzip.compress(b'{"z": 1}\n'),
            "segment-logs/src/1793491200000/a.jsonl": b'{"plain": true}\n',
            "segment-logs/src/1793491200000/.hidden.gz": b"x",
            "segment-logs/src/README.txt": b"not history",
            "segment-logs/other/x.gz": b"another source",
        }
        for key, body in put.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        storage = S3Storage(s3)

        files, skipped = storage.list_files([f"s3a://{BUCKET}/segment-logs/src/"])

        assert files == [
            f"s3a://{BUCKET}/segment-logs/src/1793491200000/a.jsonl",
            f"s3a://{BUCKET}/segment-logs/src/1793491200000/z.gz",
            f"s3a://{BUCKET}/segment-logs/src/1793577600000/b.gz",
        ]
        assert skipped == 1
        later = files[2]
        lines = list(file_lines(later, lambda: storage.open(later)))
        assert [(line.number, line.data) for line in lines] == [(1, b'{"a": 1}'), (3, b'{"a": 2}')]

        s3.delete_object(Bucket=BUCKET, Key="segment-logs/src/1793577600000/b.gz")
        gone = list(file_lines(later, lambda: storage.open(later)))
        assert [(line.number, line.data, line.fault) for line in gone] == [(0, None, VANISHED)]

        with pytest.raises(PueError):  # not a vanished object: the operator's problem, never a dead letter
            list(file_lines("s3://no-such-bucket/k.gz", lambda: storage.open("s3://no-such-bucket/k.gz")))


def test_writing_and_overwriting_an_output_folder(tmp_path: Path) -> None:
    with moto_client("s3") as s3:
        s3.create_bucket(Bucket=BUCKET)
        storage = S3Storage(s3)
        out = f"s3://{BUCKET}/personalize/run"
        part = tmp_path / "part.csv"
        part.write_text("USER_ID,ITEM_ID\nu,i\n")
        for n in range(3):
            storage.put_file(part, storage.join(out, "interactions", f"part-0000{n}.csv"))
        storage.put_text(storage.join(out, "interactions.schema.json"), "{}\n")

        storage.delete_tree(storage.join(out, "interactions"))

        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert keys == ["personalize/run/interactions.schema.json"]
        body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
        assert body == b"{}\n"


def test_the_storage_travels_to_executors_without_its_client() -> None:
    with moto_client("s3") as s3:
        copy = pickle.loads(pickle.dumps(S3Storage(s3)))  # noqa: S301 - our own bytes
    assert copy._client is None  # built on the executor, from its own credentials
    assert split_url("s3://bucket/a/b.gz") == ("bucket", "a/b.gz")
    with pytest.raises(ValueError, match="not an s3:// location"):
        split_url("/local/path")
