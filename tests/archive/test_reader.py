"""ArchiveReader: time order, complete lines only, positions that survive compression."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from observer.archive.compress import compress_closed, compress_hour
from observer.archive.reader import ArchiveReader, Position

from .conftest import START

NOW = START + timedelta(days=1)


def write(path: Path, lines: list[bytes], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines) + tail)


def test_files_in_time_order_and_one_entry_per_hour(assets: Path) -> None:
    write(assets / "scalp_20260105_10.jsonl", [b"{}"])
    write(assets / "scalp_20260105_09.jsonl", [b"{}"])
    write(assets / "scalp_20260104_23.jsonl", [b"{}"])
    write(assets / "swing_20260105_09.jsonl", [b"{}"])
    compress_hour(assets / "scalp_20260105_09.jsonl")
    write(assets / "scalp_20260105_09.jsonl", [b"{}"])  # both exist: the .zst wins
    (assets / "manifest_20260105.sha256").touch()
    names = [p.name for p in ArchiveReader(assets).files("scalp")]
    assert names == [
        "scalp_20260104_23.jsonl",
        "scalp_20260105_09.jsonl.zst",
        "scalp_20260105_10.jsonl",
    ]
    assert ArchiveReader(assets / "absent").files("scalp") == []


def test_day_files_are_the_hours_of_a_range_of_days(assets: Path) -> None:
    for name in (
        "scalp_20260104_23",
        "scalp_20260105_09",
        "scalp_20260106_10",
        "swing_20260105_09",
    ):
        write(assets / f"{name}.jsonl", [b"{}"])
    compress_hour(assets / "scalp_20260105_09.jsonl")
    reader = ArchiveReader(assets)
    one_day = [p.name for p in reader.day_files("scalp", date(2026, 1, 5), date(2026, 1, 5))]
    assert one_day == ["scalp_20260105_09.jsonl.zst"]
    both = [p.name for p in reader.day_files("scalp", "20260104", date(2026, 1, 5))]
    assert both == ["scalp_20260104_23.jsonl", "scalp_20260105_09.jsonl.zst"]
    assert reader.day_files("scalp", date(2026, 1, 7), date(2026, 1, 9)) == []


def test_partial_tail_is_not_yielded_and_is_read_once_complete(assets: Path) -> None:
    path = assets / "scalp_20260105_09.jsonl"
    write(path, [b'{"seq":1}', b'{"seq":2}'], tail=b'{"seq":')
    reader = ArchiveReader(assets)
    got = list(reader.iter_lines("scalp"))
    assert [line for line, _ in got] == [b'{"seq":1}', b'{"seq":2}']
    assert got[-1][1] == Position("scalp_20260105_09.jsonl", 20)
    with path.open("ab") as fh:
        fh.write(b'3}\n{"seq":4}\n')
    rest = list(reader.iter_lines("scalp", got[-1][1]))
    assert [line for line, _ in rest] == [b'{"seq":3}', b'{"seq":4}']


def test_resume_works_after_the_file_got_compressed(assets: Path) -> None:
    write(assets / "scalp_20260105_09.jsonl", [b'{"seq":%d}' % i for i in range(1, 6)])
    write(assets / "scalp_20260105_10.jsonl", [b'{"seq":%d}' % i for i in range(6, 9)])
    reader = ArchiveReader(assets)
    first = list(reader.iter_lines("scalp", until_file="scalp_20260105_09.jsonl"))
    assert len(first) == 5
    checkpoint = first[2][1]
    compress_closed(assets, NOW)
    assert reader.files("scalp")[0].name == "scalp_20260105_09.jsonl.zst"
    resumed = [line for line, _ in reader.iter_lines("scalp", checkpoint)]
    assert resumed == [b'{"seq":%d}' % i for i in range(4, 9)]
    records = list(reader.iter_records("scalp", Position("scalp_20260105_09.jsonl", 0)))
    assert [r["seq"] for r in records] == list(range(1, 9))


def test_position_of_a_removed_file_continues_with_the_next(assets: Path) -> None:
    write(assets / "scalp_20260105_10.jsonl", [b'{"seq":2}'])
    reader = ArchiveReader(assets)
    got = list(reader.iter_lines("scalp", Position("scalp_20260105_09.jsonl", 999)))
    assert [line for line, _ in got] == [b'{"seq":2}']


def test_a_file_compressed_after_listing_is_read_from_its_zst(assets: Path) -> None:
    write(assets / "scalp_20260105_09.jsonl", [b'{"seq":1}'])
    write(assets / "scalp_20260105_10.jsonl", [b'{"seq":2}'])
    reader = ArchiveReader(assets)
    lines = reader.iter_lines("scalp")
    assert next(lines)[0] == b'{"seq":1}'
    compress_hour(assets / "scalp_20260105_10.jsonl")
    assert next(lines) == (b'{"seq":2}', Position("scalp_20260105_10.jsonl", 10))


line_st = st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\n", b"_"))


@settings(max_examples=60, deadline=None)
@given(
    hours=st.lists(st.lists(line_st, max_size=12), min_size=1, max_size=4),
    compressed=st.lists(st.booleans(), min_size=4, max_size=4),
    cut=st.integers(min_value=0, max_value=60),
    compress_between=st.booleans(),
)
def test_resume_from_any_position_yields_exactly_the_rest(
    hours: list[list[bytes]], compressed: list[bool], cut: int, compress_between: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assets = Path(tmp)
        names = [f"scalp_20260105_{9 + i:02d}.jsonl" for i in range(len(hours))]
        for name, lines, zst in zip(names, hours, compressed, strict=False):
            write(assets / name, lines)
            if zst:
                compress_hour(assets / name)
        expected = [line for lines in hours for line in lines if line]
        reader = ArchiveReader(assets)
        everything = list(reader.iter_lines("scalp"))
        assert [line for line, _ in everything] == expected
        cut = min(cut, len(everything))
        start = everything[cut - 1][1] if cut else None
        if compress_between:
            compress_closed(assets, NOW)
        rest = [line for line, _ in reader.iter_lines("scalp", start)]
        assert rest == expected[cut:]
