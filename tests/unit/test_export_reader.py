"""Reading Segment history: JSON lines, plain or gzip, files and Segment S3 archive directory trees."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from consumers.onboarding.export import reader
from consumers.onboarding.export.reader import InputError, LineReader, discover


def write_gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_discover_walks_an_archive_tree_in_path_order_and_skips_hidden_and_foreign_files(
    tmp_path: Path,
) -> None:
    root = tmp_path / "segment-logs" / "src1"
    later = write_gz(root / "1730505600000" / "b.gz", "{}\n")
    earlier = write_gz(root / "1730419200000" / "z.gz", "{}\n")
    plain = root / "1730419200000" / "a.jsonl"
    plain.write_text("{}\n")
    (root / "1730419200000" / ".DS_Store").write_text("x")
    (root / ".sync").mkdir()
    (root / ".sync" / "tmp.gz").write_text("x")
    notes = root / "README.txt"
    notes.write_text("not history")

    found = discover([tmp_path])

    assert found.files == (plain, earlier, later)
    assert found.skipped == (notes,)
    assert found.total_bytes == sum(p.stat().st_size for p in found.files)


def test_discover_takes_named_files_whatever_their_name_and_refuses_missing_paths(tmp_path: Path) -> None:
    named = tmp_path / "export.txt"
    named.write_text("{}\n")
    assert discover([named]).files == (named,)
    with pytest.raises(InputError, match="no such file or directory"):
        discover([tmp_path / "missing"])


def test_lines_of_plain_and_gzip_files_with_numbers_blank_lines_skipped(tmp_path: Path) -> None:
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b'{"a":1}\n\n  \n{"b":2}')  # no newline at the end of the last line
    zipped = write_gz(tmp_path / "b.gz", '{"c":3}\r\n')
    lines = LineReader([plain, zipped])

    got = [(Path(line.path).name, line.number, line.data) for line in lines]

    assert got == [("a.jsonl", 1, b'{"a":1}'), ("a.jsonl", 4, b'{"b":2}'), ("b.gz", 1, b'{"c":3}')]
    assert lines.bytes_done == plain.stat().st_size + zipped.stat().st_size


def test_a_line_over_the_limit_is_reported_without_being_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 16)
    monkeypatch.setattr(reader, "_SKIP_CHUNK", 8)
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"ok":1}\n' + b"x" * 100 + b'\n{"ok":2}\n')

    got = [(line.number, line.data) for line in LineReader([path])]

    assert got == [(1, b'{"ok":1}'), (2, None), (3, b'{"ok":2}')]
    assert [line.fault for line in LineReader([path])] == [None, reader.LINE_TOO_LONG, None]


def test_a_truncated_gzip_file_keeps_its_lines_then_ends_with_one_fault(tmp_path: Path) -> None:
    whole = write_gz(tmp_path / "whole.gz", '{"a":1}\n' * 1000)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(whole.read_bytes()[:40])
    got = list(LineReader([broken]))
    assert got[-1].fault == reader.CORRUPT_GZIP and got[-1].data is None
    assert all(line.data == b'{"a":1}' for line in got[:-1])


def test_a_file_gone_before_it_is_read_is_one_fault_and_other_errors_stop(tmp_path: Path) -> None:
    def gone() -> io.BufferedReader:
        raise FileNotFoundError(2, "No such file")

    def denied() -> io.BufferedReader:
        raise PermissionError(13, "Permission denied")

    assert list(reader.file_lines("s3://b/k.gz", gone)) == [
        reader.Line("s3://b/k.gz", 0, None, reader.VANISHED)
    ]
    with pytest.raises(InputError, match="s3://b/k.gz: cannot read: Permission denied"):
        list(reader.file_lines("s3://b/k.gz", denied))
