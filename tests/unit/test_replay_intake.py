"""`pue replay`'s intake of JSON lines: the same entries as the Lambda events, in a process of its own."""

from __future__ import annotations

import gzip
import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consumers.runners import replay_intake
from consumers.runners.replay import UnreadLine, events_from
from consumers.runners.replay_input import InputError
from consumers.runners.replay_intake import DecodedBatch, IntakeProcess, decoded_batches, dumps
from consumers.stream.event_map import EventMap
from consumers.stream.intake import decode_all
from schemas.limits import KINESIS_RECORD_MAX_BYTES
from tests.support.hostile import HostileStream

NOW = datetime(2026, 11, 15, tzinfo=UTC)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


class FixedClock(datetime):
    """A clock for the intake's per-batch ``now``: hostile times in the future are clamped to it."""

    @classmethod
    def now(cls, tz: Any = None) -> FixedClock:
        return cls.fromtimestamp(NOW.timestamp(), tz=UTC)


def hostile_lines(count: int = 600) -> list[bytes]:
    """A hostile stream's payloads (every kind but KPL aggregates, which a line cannot be), one a line."""
    payloads = [part.raw for record in HostileStream(seed=15).records(count) for part in record.parts]
    lines = [p for p in payloads if b"\n" not in p and b"\r" not in p and p.strip() == p]
    # A line that starts like a KPL aggregate is opened as one (and dead-lettered), as Lambda's record would.
    return [*lines, b"\xf3\x89\x9a\xc2not an aggregate", b"[1, 2]", b"not json"]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    oversize = b'{"type": "track", "padding": "' + b"x" * KINESIS_RECORD_MAX_BYTES + b'"}'
    middle = len(lines) // 2
    body = b"\n".join([*lines[:middle], b"", b"   ", oversize, *lines[middle:], oversize]) + b"\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(body)
    else:
        path.write_bytes(body)
    return path


def as_lambda_events(path: Path, batch_size: int, event_map: EventMap) -> list[Any]:
    out: list[Any] = []
    for item in events_from(path, batch_size):
        if isinstance(item, UnreadLine):
            out.append(("unread", item.line, item.ref))
        else:
            assert isinstance(item, dict)
            out.append(decode_all(item["Records"], event_map, NOW))
    return out


def as_decoded(items: Any) -> list[Any]:
    return [
        ("unread", item.line, item.ref) if isinstance(item, UnreadLine) else item.entries for item in items
    ]


@pytest.mark.parametrize("name", ["lines.jsonl", "lines.jsonl.gz"])
@pytest.mark.parametrize("batch_size", [7, 5_000])
@pytest.mark.parametrize("event_map", [EventMap.default(), EventMap.preset("ecommerce-domain")])
def test_decoded_batches_are_what_the_handler_makes_of_the_lambda_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, batch_size: int, event_map: EventMap
) -> None:
    monkeypatch.setattr(replay_intake, "datetime", FixedClock)
    path = write_lines(tmp_path / name, hostile_lines())
    expected = as_lambda_events(path, batch_size, event_map)
    assert as_decoded(decoded_batches(path, batch_size, event_map)) == expected
    # The corpus is hostile: dead letters, filtered and tracked records, and both oversize lines.
    entries = [e for batch in expected if isinstance(batch, list) for e in batch]
    kinds = {type(e.outcome).__name__ for e in entries}
    assert kinds == {"Tracked", "Filtered", "Poison"}
    assert sum(1 for batch in expected if isinstance(batch, tuple)) == 2


def test_a_batch_crosses_the_pipe_unchanged(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "lines.jsonl", hostile_lines(200))
    items = list(decoded_batches(path, 50, EventMap.default()))
    assert any(isinstance(item, UnreadLine) for item in items)
    assert [pickle.loads(dumps(item)) for item in items] == items  # noqa: S301 - our own bytes


def sample_lines(users: int = 30) -> list[bytes]:
    """Valid messages (no time in the future: the clock of the other process does not matter)."""
    lines = []
    for n in range(users * 4):
        message = {
            "type": "track",
            "event": "Order Completed" if n % 9 == 0 else "Product Viewed",
            "messageId": f"m{n}",
            "userId": f"u{n % users}",
            "anonymousId": f"a{n % users}",
            "timestamp": (T0 + timedelta(minutes=n)).isoformat(),
            "properties": {"product_id": f"p{(n * 7) % 23}"},
        }
        lines.append(json.dumps(message).encode())
    return [*lines, b"not json", lines[3]]  # a dead letter, and a redelivered message


def test_the_intake_process_hands_over_what_decoded_batches_give(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "lines.jsonl.gz", sample_lines())
    event_map = EventMap.default()
    with IntakeProcess(path, 9, event_map) as intake:
        received = list(intake)
    assert as_decoded(received) == as_decoded(decoded_batches(path, 9, event_map))
    assert all(isinstance(item, DecodedBatch | UnreadLine) for item in received)


def test_a_truncated_gzip_fails_after_the_batches_read_before_it(tmp_path: Path) -> None:
    whole = write_lines(tmp_path / "whole.jsonl.gz", sample_lines(3_000)).read_bytes()
    path = tmp_path / "truncated.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    received: list[object] = []
    with IntakeProcess(path, 500, EventMap.default()) as intake, pytest.raises(InputError) as error:
        received.extend(intake)
    assert "cannot decompress past line" in str(error.value)
    in_process: list[object] = []
    with pytest.raises(InputError):
        in_process.extend(decoded_batches(path, 500, EventMap.default()))
    assert as_decoded(received) == as_decoded(in_process) and len(received) > 1


def test_closing_early_stops_the_intake_process(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "lines.jsonl", sample_lines(3_000))
    intake = IntakeProcess(path, 10, EventMap.default())
    first = next(iter(intake))
    assert isinstance(first, DecodedBatch) and len(first.entries) == 10
    intake.close()  # the replay stopped (an error, Ctrl-C) with most of the file unread
    process = intake._process  # the child it must have reaped
    assert not process.is_alive() and process.exitcode is not None
