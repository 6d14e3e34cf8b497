"""A Segment archive and an export's output in Amazon S3, for ``pue export --engine spark``.

Listing (ListObjectsV2) runs on the Spark driver, reading (GetObject, streamed) on the executors: the
client is built where it is used, never pickled. A key listed and then gone (NoSuchKey: a lifecycle rule,
a re-sync) is ``FileNotFoundError``, which the export dead-letters as one entry; every other error is
translated to ``PueError`` (AccessDenied is the operator's: ``ConfigError``, loud, never dead-lettered).

Segment's S3 destination writes ``segment-logs/{source-id}/{received-day}/{file}.gz``; keys list in
UTF-8 byte order, which for those equal-width day folders is received-day order, the order a local copy
(``aws s3 sync``) is walked in by the single-process export.

ListObjectsV2: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
GetObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
DeleteObjects (at most 1,000 keys a call): https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Final

from destinations.aws.errors import BOTO_ERRORS, error_code, translate_client_error, translated

SERVICE: Final = "s3"
ARCHIVE_SUFFIXES: Final = (".gz", ".json", ".jsonl", ".ndjson")
_DELETE_BATCH: Final = 1_000
# Streaming reads of large objects: a read waits longer than an API call's default 3 s.
_READ_TIMEOUT_SECONDS: Final = 60.0
_MISSING: Final = frozenset({"NoSuchKey", "404", "NotFound"})


def split_url(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` (or ``s3a://``, as plain Spark spells it) -> (bucket, key)."""
    for scheme in ("s3://", "s3a://"):
        if location.startswith(scheme):
            bucket, _, key = location[len(scheme) :].partition("/")
            return bucket, key
    raise ValueError(f"not an s3:// location: {location}")


class _Body(io.RawIOBase):
    """A GetObject body as a raw stream, so ``io.BufferedReader`` can peek at its first bytes."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with translated(SERVICE):
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3Storage:
    """``Storage`` over S3 (see ``consumers.onboarding.spark.storage``). Picklable: the client is not."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def __getstate__(self) -> dict[str, Any]:
        return {}  # each executor builds its own client

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from destinations.aws.clients import make_client

            self._client = make_client(SERVICE, read_timeout=_READ_TIMEOUT_SECONDS)
        return self._client

    def list_files(self, locations: list[str]) -> tuple[list[str], int]:
        files: list[str] = []
        skipped = 0
        for location in locations:
            bucket, prefix = split_url(location)
            scheme = location.split("//", 1)[0] + "//"
            for key in self._keys(bucket, prefix):
                name = key.rsplit("/", 1)[-1]
                if not name or any(part.startswith(".") for part in key[len(prefix) :].split("/")):
                    continue  # folder markers and hidden files, as the local walk skips them
                if key == prefix or name.lower().endswith(ARCHIVE_SUFFIXES):
                    files.append(f"{scheme}{bucket}/{key}")
                else:
                    skipped += 1
        return files, skipped

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            with translated(SERVICE):
                page = self.client.list_objects_v2(**kwargs)
            keys.extend(str(item["Key"]) for item in page.get("Contents", ()))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(keys)

    def open(self, location: str) -> io.BufferedReader:
        bucket, key = split_url(location)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except BOTO_ERRORS as exc:
            code = error_code(exc)
            if code is not None and code in _MISSING:
                raise FileNotFoundError(2, "no such key", location) from exc
            raise translate_client_error(exc, service=SERVICE) from exc
        return io.BufferedReader(_Body(body), buffer_size=1024 * 1024)

    def put_file(self, local: Path, location: str) -> None:
        bucket, key = split_url(location)
        with local.open("rb") as handle, translated(SERVICE):
            self.client.put_object(Bucket=bucket, Key=key, Body=handle)

    def put_text(self, location: str, text: str) -> None:
        bucket, key = split_url(location)
        with translated(SERVICE):
            self.client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))

    def delete_tree(self, location: str) -> None:
        bucket, prefix = split_url(location)
        keys = [key for key in self._keys(bucket, prefix) if key == prefix or key.startswith(prefix + "/")]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + _DELETE_BATCH]]
            with translated(SERVICE):
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    def join(self, location: str, *names: str) -> str:
        return "/".join([location.rstrip("/"), *names])
