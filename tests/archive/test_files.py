"""Finding stream files and reading last seqs, on real directories and files."""

from __future__ import annotations

from pathlib import Path

import zstandard

from observer.archive.files import (
    files_by_stream,
    last_seq,
    newest_head,
    newest_plain_file,
    newest_seq,
    record_head,
    scan,
    seq_of,
    stream_files,
    tail_lines,
)
from observer.archive.paths import parse_name

from .conftest import make_record


def lines(seqs: list[int], pad: int = 0) -> bytes:
    out = []
    for seq in seqs:
        record = make_record("scalp", 1_767_571_200_000_000_000, seq, pad="x" * pad)
        record.seq = seq
        out.append(record.to_line())
    return b"".join(out)


def touch(assets: Path, *names: str) -> None:
    for name in names:
        (assets / name).write_bytes(b"")


def test_scan_orders_by_stream_then_hour_and_ignores_other_entries(assets: Path) -> None:
    touch(
        assets,
        "swing_20260105_09.jsonl",
        "scalp_20260106_00.jsonl",
        "scalp_20260105_23.jsonl.zst",
        "scalp_20260105_23.jsonl",
        "scalp_20260105_09.jsonl.zst",
        "manifest_20260105.sha256",
        ".scalp_20260105_10.jsonl.zst.1-2.tmp",
        "scalp_20260105_24.jsonl",
    )
    (assets / "scalp_20260105_11.jsonl").mkdir()
    assert [p.name for _, p in scan(assets)] == [
        "scalp_20260105_09.jsonl.zst",
        "scalp_20260105_23.jsonl",
        "scalp_20260105_23.jsonl.zst",
        "scalp_20260106_00.jsonl",
        "swing_20260105_09.jsonl",
    ]
    assert [p.name for _, p in scan(assets, "swing")] == ["swing_20260105_09.jsonl"]
    assert list(files_by_stream(assets)) == ["scalp", "swing"]
    assert [p.name for p in stream_files(assets, "scalp")] == [
        "scalp_20260105_09.jsonl.zst",
        "scalp_20260105_23.jsonl.zst",
        "scalp_20260106_00.jsonl",
    ]
    assert newest_plain_file(assets, "scalp") == assets / "scalp_20260106_00.jsonl"
    assert newest_plain_file(assets, "system") is None


def test_a_stream_whose_name_prefixes_another_is_not_mixed_in(assets: Path) -> None:
    touch(assets, "scalp_20260105_09.jsonl", "scalpx_20260105_10.jsonl")
    assert [p.name for _, p in scan(assets, "scalp")] == ["scalp_20260105_09.jsonl"]


def test_an_absent_directory_holds_no_files(tmp_path: Path) -> None:
    assert scan(tmp_path / "missing") == []
    assert stream_files(tmp_path / "missing", "scalp") == []
    assert newest_seq(tmp_path / "missing", "scalp") is None


def test_last_seq_of_a_plain_file_skips_a_torn_tail_and_a_corrupt_last_line(
    assets: Path,
) -> None:
    path = assets / "scalp_20260105_09.jsonl"
    path.write_bytes(lines([1, 2, 3]) + b"not json\n" + b'{"seq":99')
    name = parse_name(path.name)
    assert name is not None
    assert last_seq(name, path) == 3


def test_last_seq_walks_back_over_chunks_of_long_lines(assets: Path) -> None:
    path = assets / "scalp_20260105_09.jsonl"
    path.write_bytes(lines([7], pad=200_000) + b"garbage\n" * 20_000)  # 160 KB of garbage
    name = parse_name(path.name)
    assert name is not None
    assert last_seq(name, path) == 7


def test_last_seq_of_a_compressed_file(assets: Path) -> None:
    path = assets / "scalp_20260105_09.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(lines([4, 5, 6]) + b"bad\n"))
    name = parse_name(path.name)
    assert name is not None
    assert last_seq(name, path) == 6


def test_newest_seq_reads_the_newest_plain_file(assets: Path) -> None:
    (assets / "scalp_20260105_09.jsonl").write_bytes(lines([1, 2]))
    (assets / "scalp_20260105_10.jsonl").write_bytes(lines([3, 4]) + b'{"seq":5')
    assert newest_seq(assets, "scalp") == 4
    assert newest_head(assets, "scalp") == (4, 1_767_571_200_000_000_000)
    (assets / "scalp_20260105_11.jsonl").write_bytes(b"")
    assert newest_seq(assets, "scalp") is None  # a new hour with nothing in it yet


def test_seq_of_accepts_only_an_integer_seq() -> None:
    assert seq_of(b'{"seq":12}') == 12
    assert seq_of(b'{"seq":"12"}') is None
    assert seq_of(b"[1,2]") is None
    assert seq_of(b"{") is None


def test_record_head_is_the_seq_and_the_receive_time() -> None:
    assert record_head(b'{"seq":3,"recv_ns":17}') == (3, 17)
    assert record_head(b'{"seq":3,"recv_ns":"17"}') == (3, None)
    assert record_head(b'{"recv_ns":17}') is None


def test_tail_lines_keeps_the_window_of_whole_lines_plain_and_compressed(assets: Path) -> None:
    body = lines(list(range(1, 2001)), pad=500)  # about 1.2 MB: more than one zst chunk
    plain = assets / "scalp_20260105_09.jsonl"
    plain.write_bytes(body)
    packed = assets / "scalp_20260105_10.jsonl.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(body))
    for path in (plain, packed):
        name = parse_name(path.name)
        assert name is not None
        window = 200_000
        got = [seq_of(line) for line in tail_lines(name, path, window) if line]
        assert None not in got and got == list(range(got[0], 2001))  # whole lines, to the end
        whole = [seq_of(line) for line in body[-window - 1 :].split(b"\n")[1:] if line]
        assert got == whole  # exactly the lines that fit the window
        everything = [seq_of(line) for line in tail_lines(name, path, len(body)) if line]
        assert everything == list(range(1, 2001))
        # a window that starts exactly on a line start keeps that line
        last_ten = len(b"".join(body.splitlines(keepends=True)[-10:]))
        aligned = [seq_of(line) for line in tail_lines(name, path, last_ten) if line]
        assert aligned == list(range(1991, 2001))
