"""Start-up recovery: torn tails are cut and counted, seq resumes after the last record."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
import zstandard

from observer.archive.reader import ArchiveReader
from observer.archive.recovery import cut_torn_tail, recover
from observer.archive.writer import ArchiveWriter
from observer.clock import ManualClock
from observer.metrics import Metrics

from .conftest import make_record, sample_value


def write_lines(path: Path, seqs: list[int], tail: bytes = b"") -> None:
    lines = []
    for seq in seqs:
        record = make_record("scalp", 1_767_571_200_000_000_000, seq)
        record.seq = seq
        lines.append(record.to_line())
    path.write_bytes(b"".join(lines) + tail)


async def test_torn_last_line_is_cut_counted_and_seq_resumes(
    assets: Path, clock: ManualClock, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    path = assets / "scalp_20260105_09.jsonl"
    write_lines(path, [1, 2, 3], tail=b'{"v":1,"stream":"scalp","seq":4,"recv_')
    intact_size = path.stat().st_size - len(b'{"v":1,"stream":"scalp","seq":4,"recv_')
    writer = ArchiveWriter(assets, clock, metrics)
    with caplog.at_level(logging.WARNING, logger="observer.archive.recovery"):
        report = await writer.start()
    assert [(t.file, t.offset) for t in report.truncations] == [(path.name, intact_size)]
    assert report.truncations[0].bytes_cut == len(b'{"v":1,"stream":"scalp","seq":4,"recv_')
    assert report.last_seq == {"scalp": 3}
    assert sample_value(metrics, "observer_archive_recovered_truncations_total") == 1
    assert "torn last line" in caplog.text
    assert writer.stats()["archive"]["recovered_truncations"] == 1
    assert report.as_dict()["truncations"][0]["file"] == path.name
    assert await (await writer.submit(make_record("scalp", clock.now_ns(), 9))) == 4
    await writer.close()
    seqs = [r["seq"] for r in ArchiveReader(assets).iter_records("scalp")]
    assert seqs == [1, 2, 3, 4]


def test_intact_and_empty_files_are_left_alone(assets: Path) -> None:
    path = assets / "scalp_20260105_09.jsonl"
    write_lines(path, [1, 2])
    before = path.read_bytes()
    assert cut_torn_tail(path) == 0
    assert path.read_bytes() == before
    empty = assets / "scalp_20260105_10.jsonl"
    empty.write_bytes(b"")
    assert cut_torn_tail(empty) == 0


def test_a_file_that_is_only_a_torn_line_becomes_empty(assets: Path) -> None:
    path = assets / "swing_20260105_09.jsonl"
    path.write_bytes(b'{"v":1' * 30_000)  # longer than one read chunk, no newline at all
    assert cut_torn_tail(path) == 180_000
    assert path.read_bytes() == b""


def test_corrupt_middle_line_is_left_alone_and_counted_by_the_reader(
    assets: Path, metrics: Metrics
) -> None:
    path = assets / "scalp_20260105_09.jsonl"
    write_lines(path, [1])
    with path.open("ab") as fh:
        fh.write(b"\x00\x00garbage\n")
    with path.open("ab") as fh:
        record = make_record("scalp", 1_767_571_200_000_000_000, 2)
        record.seq = 2
        fh.write(record.to_line())
    report = recover(assets, metrics)
    assert report.truncations == []
    assert report.last_seq == {"scalp": 2}
    reader = ArchiveReader(assets)
    assert [r["seq"] for r in reader.iter_records("scalp")] == [1, 2]
    assert reader.unreadable == 1


def test_last_seq_comes_from_the_newest_file_with_records(assets: Path, metrics: Metrics) -> None:
    write_lines(assets / "scalp_20260105_09.jsonl", [1, 2, 3])
    plain = assets / "scalp_20260105_10.jsonl"
    write_lines(plain, list(range(4, 3000)))
    (assets / "scalp_20260105_10.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(plain.read_bytes())
    )
    plain.unlink()
    (assets / "scalp_20260105_11.jsonl").write_bytes(b"")  # created, then crashed: no records
    (assets / "swing_20260105_09.jsonl").write_bytes(b"not json\n")
    report = recover(assets, metrics)
    assert report.last_seq == {"scalp": 2999}
    assert report.newest == {"scalp": "scalp_20260105_11.jsonl", "swing": "swing_20260105_09.jsonl"}


def test_last_seq_skips_a_corrupt_final_line(assets: Path, metrics: Metrics) -> None:
    path = assets / "system_20260105_09.jsonl"
    write_lines(path, [7, 8])
    with path.open("ab") as fh:
        fh.write(orjson.dumps({"no": "seq"}) + b"\n" + b"x" * 70_000 + b"\n")
    assert recover(assets, metrics).last_seq == {"system": 8}
