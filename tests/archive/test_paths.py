"""Archive file names by KST hour of receive time."""

from __future__ import annotations

from datetime import date, datetime

from observer.archive.paths import (
    hour_index,
    hour_start_ns,
    manifest_day,
    manifest_name,
    parse_name,
    plain_name,
)
from observer.clock import KST

NS = 1_000_000_000


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * NS


def test_file_name_is_the_kst_hour_of_receive_time() -> None:
    # 2026-01-05 23:59:59 KST is 14:59:59 UTC: still the KST day of the 5th
    late = ns(datetime(2026, 1, 5, 23, 59, 59, tzinfo=KST))
    assert plain_name("scalp", hour_index(late)) == "scalp_20260105_23.jsonl"
    assert plain_name("system", hour_index(late + NS)) == "system_20260106_00.jsonl"
    index = hour_index(late)
    assert hour_start_ns(index) == ns(datetime(2026, 1, 5, 23, 0, tzinfo=KST))


def test_names_parse_back() -> None:
    parsed = parse_name("swing_20260105_09.jsonl.zst")
    assert parsed is not None
    assert (parsed.stream, parsed.day, parsed.hour, parsed.compressed) == (
        "swing",
        "20260105",
        9,
        True,
    )
    assert parsed.plain == "swing_20260105_09.jsonl"
    assert parsed.zst == "swing_20260105_09.jsonl.zst"
    assert plain_name("swing", parsed.index) == parsed.plain
    for other in (
        "manifest_20260105.sha256",
        "scalp_20260105_24.jsonl",
        "x.jsonl",
        "scalp_2026_09.jsonl",
    ):
        assert parse_name(other) is None


def test_manifest_names() -> None:
    assert manifest_name(date(2026, 1, 5)) == "manifest_20260105.sha256"
    assert manifest_name("20260105") == "manifest_20260105.sha256"
    assert manifest_day("manifest_20260105.sha256") == "20260105"
    assert manifest_day("scalp_20260105_09.jsonl") is None
