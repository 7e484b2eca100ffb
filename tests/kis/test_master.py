"""Master files: layout, reader, writer round trip, rejects, zip handling."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from observer.kis.master import (
    LAYOUTS,
    TAIL_WIDTH,
    MasterIssue,
    build_master_file,
    build_master_line,
    build_master_zip,
    parse_master,
    read_master_zip,
)

SAMSUNG = MasterIssue(
    "005930", "KR7005930003", "삼성전자", "KOSPI", base_price=71000, lot_size=1,
    listed_shares=5969783, market_cap=4238000, listing_date="19750611",
)  # fmt: skip


def test_tail_widths_match_the_published_layout() -> None:
    assert TAIL_WIDTH == {"KOSPI": 227, "KOSDAQ": 221}
    for spans in LAYOUTS.values():
        assert spans[0][1] == 0
        for (_n1, _s1, end), (_n2, start, _e2) in itertools.pairwise(spans):
            assert end == start  # contiguous, no gaps or overlaps


def test_line_layout_offsets() -> None:
    line = build_master_line(SAMSUNG, "KOSPI")
    tail = line[-227:]
    assert line[:9] == "005930   " and line[9:21] == "KR7005930003"
    assert line[21:-227] == "삼성전자"
    assert tail[0:2] == "ST" and tail[41:50] == "    71000"
    assert tail[60:63] == "NNN" and tail[105:113] == "19750611"
    assert tail[113:128].strip() == "5969783"
    kosdaq = build_master_line(SAMSUNG, "KOSDAQ")[-221:]
    assert kosdaq[36:45] == "    71000" and kosdaq[100:108] == "19750611"


def test_flags_and_derived_properties() -> None:
    etf = MasterIssue("069500", "KR7069500007", "KODEX 200", "KOSPI", group_code="EF")
    pref = MasterIssue("005935", "KR7005931001", "삼성전자우", "KOSPI", preferred_code="1")
    halted = MasterIssue(
        "000001", "KR7000001000", "정지", "KOSDAQ", halted=True, administrative=True,
        liquidation=True, is_spac=True, warning_code="02",
    )  # fmt: skip
    for issue in (etf, pref, halted):
        market = "KOSDAQ" if issue.market == "KOSDAQ" else "KOSPI"
        (parsed,) = parse_master(build_master_file([issue], market), market).issues
        assert parsed == issue
    assert etf.is_etf and not etf.is_etn and not etf.is_preferred
    assert pref.is_preferred and not SAMSUNG.is_preferred
    assert halted.halted and halted.administrative and halted.liquidation and halted.is_spac


def test_bad_lines_are_rejected_with_reasons_and_good_ones_kept() -> None:
    good = build_master_line(SAMSUNG, "KOSPI")
    bad_price = good[:-227] + good[-227:][:41] + "   71x00" + " " + good[-227:][50:]
    data = "\n".join([good, "too short", bad_price, ""]).encode("cp949") + b"\xff\xfe\r\n"
    parsed = parse_master(data, "KOSPI")
    assert parsed.issues == [SAMSUNG]
    reasons = [(r.line_no, r.reason) for r in parsed.rejects]
    assert reasons[0][0] == 2 and "characters" in reasons[0][1]
    assert reasons[1] == (3, "bad base_price '71x00'")
    assert reasons[2] == (4, "not cp949 text")


def test_zip_round_trip_and_unreadable_zip() -> None:
    zipped = build_master_zip([SAMSUNG], "KOSPI")
    assert read_master_zip(zipped, "KOSPI").issues == [SAMSUNG]
    broken = read_master_zip(b"PK\x03\x04 not really", "KOSPI")
    assert broken.issues == [] and "zip" in broken.rejects[0].reason


NAME_CHARS = "가나다라마바사아자차카타파하전자화학우선주ABCXYZ0123456789 &-."
issues = st.builds(
    MasterIssue,
    code=st.from_regex(r"[0-9][0-9A-Z]{4}[0-9]", fullmatch=True),
    standard_code=st.from_regex(r"KR[0-9A-Z]{10}", fullmatch=True),
    name=st.text(alphabet=NAME_CHARS, min_size=1, max_size=20).map(str.strip).filter(bool),
    market=st.sampled_from(["KOSPI", "KOSDAQ"]),
    group_code=st.sampled_from(["ST", "EF", "EN", "RT", "MF"]),
    halted=st.booleans(),
    liquidation=st.booleans(),
    administrative=st.booleans(),
    warning_code=st.sampled_from(["00", "01", "02", "03"]),
    is_spac=st.booleans(),
    preferred_code=st.sampled_from(["0", "1", "2"]),
    base_price=st.integers(0, 999_999_999),
    lot_size=st.integers(0, 99_999),
    listed_shares=st.integers(0, 10**15 - 1),
    market_cap=st.integers(0, 999_999_999),
    listing_date=st.sampled_from(["", "19750611", "20260105"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(issues, min_size=1, max_size=5))
def test_master_line_round_trip(generated: list[MasterIssue]) -> None:
    for market in ("KOSPI", "KOSDAQ"):
        placed = [
            MasterIssue(**{**{f: getattr(i, f) for f in i.__slots__}, "market": market})  # type: ignore[attr-defined]
            for i in generated
        ]
        assert read_master_zip(build_master_zip(placed, market), market).issues == placed


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["KOSPI", "KOSDAQ"]))
def test_garbage_never_raises(data: bytes, market: str) -> None:
    parsed = parse_master(data, market)  # type: ignore[arg-type]
    assert len(parsed.issues) + len(parsed.rejects) <= data.count(b"\n") + 1
    read_master_zip(data, market)  # type: ignore[arg-type]
