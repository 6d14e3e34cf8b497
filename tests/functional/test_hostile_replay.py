"""Issue 14 item 3: no input line crashes ``pue replay`` and memory stays bounded.

Nesting 100,000 deep, lines far over Kinesis's 1 MiB record limit (dead-lettered as a prefix, the size and
the SHA-256, never held whole), a gzip bomb, corrupt gzip, pretty-printed documents and JSON arrays (one
clear error, exit 2). The peak RSS of a real ``pue replay`` process on each hostile file is measured
(``ru_maxrss`` of a child) and held under the 200 MB the issue asks for.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from consumers.cli import main
from consumers.runners.lambda_events import lambda_record, partition_key_of
from consumers.stream.decode import Undecodable, decode_record
from destinations.local import LocalBackend
from schemas.limits import KINESIS_RECORD_MAX_BYTES
from tests.factories import segment_track

DEPTH: Final = 100_000
RSS_LIMIT_KB: Final = 200 * 1024  # issue 14: peak RSS of pue replay under 200 MB for every hostile file
BOMB_BYTES: Final = 200 * 1024 * 1024  # the gzip: one 200 MB line, ~200 KB compressed
PUE: Final = Path(sys.executable).with_name("pue")


def good_line(n: int = 1) -> bytes:
    message = segment_track(
        "Product Viewed", user_id=f"u{n}", properties={"product_id": "p1"}, message_id=f"m{n}"
    )
    return json.dumps(message).encode()


def deep_lines() -> bytes:
    return b"[" * DEPTH + b"]" * DEPTH + b"\n" + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"\n"


def write_bomb(path: Path, size: int = BOMB_BYTES) -> None:
    chunk = b"a" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(b'{"type":"track","event":"Product Viewed","properties":{"blob":"')
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(b'"}}\n' + good_line() + b"\n")


def replay(capsys: pytest.CaptureFixture[str], path: Path, state: Path) -> tuple[int, dict[str, int], str]:
    code = main(["replay", str(path), "--state", str(state)])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return code, (json.loads(lines[-1]) if lines else {}), captured.err


def letters(state: Path) -> list[tuple[bytes, str]]:
    backend = LocalBackend.open(state)
    try:
        return [(letter.raw, letter.reason) for letter in backend.store.dead_letters(limit=100)]
    finally:
        backend.close()


# -- nesting -------------------------------------------------------------------------------------------


def test_lines_nested_100000_deep_are_dead_lettered_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_bytes(deep_lines() + good_line() + b"\n")
    code, summary, _ = replay(capsys, path, tmp_path / "state")
    assert code == 0
    assert (summary["records"], summary["processed"], summary["dead_lettered"]) == (3, 1, 2)
    assert (
        sorted(reason for _, reason in letters(tmp_path / "state")) == ["invalid JSON: nested too deeply"] * 2
    )


def test_the_helpers_that_parsed_a_line_whole_survive_deep_nesting() -> None:
    deep = b"[" * DEPTH + b"]" * DEPTH
    assert partition_key_of(deep) == "unparseable"
    (entry,) = decode_record(lambda_record(deep, sequence="1", partition_key="pk"))
    assert isinstance(entry, Undecodable) and entry.reason == "invalid JSON: nested too deeply"
    assert entry.raw == deep


# -- long lines, gzip ----------------------------------------------------------------------------------


def test_a_line_over_the_kinesis_limit_is_dead_lettered_as_prefix_size_and_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_line = b'{"type":"track","blob":"' + b"x" * (3 * KINESIS_RECORD_MAX_BYTES) + b'"}'
    path = tmp_path / "long.jsonl"
    path.write_bytes(good_line(1) + b"\n" + long_line + b"\n" + good_line(2) + b"\n")
    code, summary, _ = replay(capsys, path, tmp_path / "state")
    assert code == 0
    assert (summary["records"], summary["processed"], summary["dead_lettered"]) == (3, 2, 1)
    ((raw, reason),) = letters(tmp_path / "state")
    assert raw == long_line[:4096]
    assert reason.startswith("line over the Kinesis record limit (1,048,576 bytes): line 2,")
    assert f"{len(long_line):,} bytes" in reason and hashlib.sha256(long_line).hexdigest() in reason


def test_a_line_at_the_kinesis_limit_is_still_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = b'"' + b"x" * (KINESIS_RECORD_MAX_BYTES - 3) + b'"\n'  # the newline included: exactly the limit
    path = tmp_path / "edge.jsonl"
    path.write_bytes(line + good_line() + b"\n")
    code, summary, _ = replay(capsys, path, tmp_path / "state")
    assert (code, summary["dead_lettered"], summary["processed"]) == (0, 1, 1)
    ((raw, reason),) = letters(tmp_path / "state")
    assert reason == "not a JSON object (string)" and raw == line.strip()


def test_a_corrupt_gzip_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = gzip.compress(b"\n".join(good_line(n) for n in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    code, _, err = replay(capsys, path, tmp_path / "state")
    assert code == 2 and "cannot decompress" in err and str(path) in err


# -- shapes that are not JSON lines -------------------------------------------------------------------

PRETTY_MESSAGE: Final = json.dumps(json.loads(good_line()), indent=2)


@pytest.mark.parametrize(
    ("content", "shape"),
    [
        (PRETTY_MESSAGE, "a pretty-printed JSON document"),
        (PRETTY_MESSAGE + "\n" + PRETTY_MESSAGE, "a multi-line document that is not JSON"),
        (json.dumps([json.loads(good_line(n)) for n in range(3)], indent=2), "a JSON array"),
        (json.dumps([json.loads(good_line(n)) for n in range(3)]), "a JSON array of 3 objects on one line"),
    ],
)
def test_documents_that_are_not_json_lines_are_refused_once_with_the_expected_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, shape: str
) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    code, summary, err = replay(capsys, path, tmp_path / "state")
    assert code == 2 and summary == {}
    assert shape in err and "JSON lines (one Segment message per line" in err
    assert err.count("\n") == 1  # one error, not a dead letter per line
    assert letters(tmp_path / "state") == []


def test_a_pretty_printed_lambda_event_is_still_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {
        "Records": [lambda_record(good_line(n), sequence=str(n), partition_key="pk") for n in range(1, 4)]
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event, indent=2))
    code, summary, _ = replay(capsys, path, tmp_path / "state")
    assert (code, summary["processed"]) == (0, 3)


# -- memory: a real pue replay process per hostile file ------------------------------------------------


def hostile_files(directory: Path) -> dict[str, Path]:
    files = {
        "deep.jsonl": deep_lines(),
        "long-line.jsonl": b'{"x":"' + b"y" * (64 * 1024 * 1024) + b'"}\n' + good_line() + b"\n",
        "strings.json": b"[\n" + b'"ab",\n' * (6 * 1024 * 1024 // 6) + b'"ab"\n]\n',
        "objects.json": b'{"Records": [' + b"{}, " * ((6 * 1024 * 1024 - 100) // 4) + b"{}]}\n",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = directory / name
        paths[name].write_bytes(content)
    paths["bomb.jsonl.gz"] = directory / "bomb.jsonl.gz"
    write_bomb(paths["bomb.jsonl.gz"])
    return paths


def peak_rss_kb(*argv: str) -> tuple[int, int]:
    """(exit code, peak RSS in KB) of ``argv`` run as the only child of a fresh Python."""
    probe = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:], capture_output=True).returncode\n"
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True)
    code, rss = out.stdout.split()
    return int(code), int(rss)


def test_peak_rss_of_pue_replay_stays_under_200_mb_for_every_hostile_file(tmp_path: Path) -> None:
    expected_exit = {
        "deep.jsonl": 0,
        "long-line.jsonl": 0,
        "bomb.jsonl.gz": 0,
        "strings.json": 2,
        "objects.json": 2,
    }
    peaks = {}
    for name, path in hostile_files(tmp_path).items():
        code, peaks[name] = peak_rss_kb(
            str(PUE), "replay", str(path), "--state", str(tmp_path / f"state-{name}")
        )
        assert code == expected_exit[name], name
    print("peak RSS of pue replay, KB:", peaks)
    assert max(peaks.values()) < RSS_LIMIT_KB, peaks
    # The measure can fail: a process that holds the bomb's 200 MB line whole is over the limit.
    code, greedy = peak_rss_kb(
        sys.executable, "-c", f"import gzip; gzip.open({str(tmp_path / 'bomb.jsonl.gz')!r}).read()"
    )
    assert code == 0 and greedy > RSS_LIMIT_KB
