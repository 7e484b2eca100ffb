"""The service's own downtime is a ``service_down`` gap, after a clean stop or a SIGKILL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import orjson

from observer.archive.compress import compress_hour
from observer.archive.downtime import downtime_gaps
from observer.clock import KST, kst_iso
from observer.pipeline.record import Record
from tests.service_process import ServiceProcess

T0 = datetime(2026, 1, 5, 10, 15, tzinfo=KST)


def ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


def write(path: Path, records: list[Record]) -> None:
    for seq, record in enumerate(records, start=1):
        record.seq = seq
    path.write_bytes(b"".join(r.to_line() for r in records))


def tick(symbol: str, when: datetime) -> Record:
    return Record("scalp", "sim", "H0STCNT0", symbol, {"price": 1}, ns(when))


def test_one_gap_per_symbol_of_the_newest_scalp_hour_and_per_stream(tmp_path: Path) -> None:
    write(tmp_path / "scalp_20260105_09.jsonl", [tick("000001", T0 - timedelta(hours=1))])
    write(
        tmp_path / "scalp_20260105_10.jsonl",
        [tick("005930", T0), tick("000660", T0 + timedelta(seconds=5)),
         tick("005930", T0 + timedelta(seconds=9))],
    )  # fmt: skip
    system = Record("system", "sim", "SYSTEM", "", {"event": "x"}, ns(T0 + timedelta(seconds=20)))
    write(tmp_path / "system_20260105_10.jsonl", [system])
    now = ns(T0 + timedelta(minutes=3))
    gaps = downtime_gaps(tmp_path, now, "sim")
    found = {(g.data["stream"], g.symbol): g.data for g in gaps}
    assert set(found) == {("scalp", "000660"), ("scalp", "005930"), ("system", "")}
    assert found[("scalp", "005930")]["start"] == kst_iso(ns(T0 + timedelta(seconds=9)))
    assert found[("scalp", "000660")]["start"] == kst_iso(ns(T0 + timedelta(seconds=5)))
    assert found[("scalp", "005930")]["tr_id"] == "H0STCNT0"
    assert found[("system", "")]["scope"] == "stream"
    for data in found.values():
        assert data["reason"] == "service_down" and data["end"] == kst_iso(now)


def test_a_stop_overnight_gives_one_scalp_gap_not_one_per_symbol(tmp_path: Path) -> None:
    write(tmp_path / "scalp_20260105_15.jsonl", [tick("005930", T0), tick("000660", T0)])
    gaps = downtime_gaps(tmp_path, ns(T0 + timedelta(days=1)), "sim")
    assert [(g.data["stream"], g.data["scope"], g.symbol) for g in gaps] == [
        ("scalp", "stream", "")
    ]


def test_first_start_has_no_gap(tmp_path: Path) -> None:
    assert downtime_gaps(tmp_path, ns(T0), "sim") == []


def system_lines(home: Path) -> list[dict[str, object]]:
    found = []
    for path in sorted((home / "data" / "assets").glob("system_*.jsonl")):
        found += [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return found


def test_restart_after_sigkill_and_after_a_clean_stop(home: Path) -> None:
    with ServiceProcess(home) as first:
        first.start(wait_ready=False)
        first.wait_for(lambda: bool(system_lines(home)), 30, "the startup record")
        first.kill()  # SIGKILL
    with ServiceProcess(home) as second:
        second.start(wait_ready=False)
        second.wait_for(lambda: len(_starts(home)) == 2, 30, "the second startup record")
        assert second.terminate() == 0  # clean stop
    with ServiceProcess(home) as third:
        third.start(wait_ready=False)
        third.wait_for(lambda: len(_starts(home)) == 3, 30, "the third startup record")
        assert third.terminate() == 0
    records = system_lines(home)
    downs = [r for r in records if r["data"].get("reason") == "service_down"]  # type: ignore[attr-defined]
    assert len(downs) == 2, downs
    starts = _starts(home)
    for down in downs:  # from the previous run's last record, to this start
        before = records[records.index(down) - 1]
        assert down["data"]["start"] == before["ts"]  # type: ignore[index]
        assert down["data"]["stream"] == "system"  # type: ignore[index]
    assert downs[0]["data"]["end"] <= starts[1]["ts"]  # type: ignore[index,operator]
    # the second one follows the clean stop: the run's last record was its shutdown
    assert records[records.index(downs[1]) - 1]["data"]["event"] == "shutdown"  # type: ignore[index]
    assert records[records.index(downs[0]) - 1]["data"]["event"] != "shutdown"  # type: ignore[index]


def _starts(home: Path) -> list[dict[str, object]]:
    return [r for r in system_lines(home) if r["data"].get("event") == "startup"]  # type: ignore[attr-defined]


def test_an_unreadable_newest_hour_falls_back_to_the_one_before(tmp_path: Path) -> None:
    before = ns(T0 - timedelta(hours=1))
    write(
        tmp_path / "system_20260105_09.jsonl", [Record("system", "sim", "SYSTEM", "", {}, before)]
    )
    (tmp_path / "system_20260105_10.jsonl.zst").write_bytes(b"not zstd at all")
    gaps = downtime_gaps(tmp_path, ns(T0 + timedelta(hours=1)), "sim")
    assert [g.data["start"] for g in gaps] == [kst_iso(before)]


def test_a_compressed_newest_hour_is_read_too(tmp_path: Path) -> None:
    plain = tmp_path / "scalp_20260105_10.jsonl"
    write(plain, [tick("005930", T0), tick("000660", T0 + timedelta(seconds=1))])
    compress_hour(plain)
    assert not plain.exists()
    gaps = downtime_gaps(tmp_path, ns(T0 + timedelta(minutes=50)), "sim")
    assert sorted(g.symbol for g in gaps) == ["000660", "005930"]


def trade(symbol: str, when: datetime, acc: int) -> Record:
    data = {"business_date": f"{when:%Y%m%d}", "acc_volume": acc, "trade_volume": 1}
    return Record("scalp", "sim", "H0STCNT0", symbol, data, ns(when))


def test_a_symbol_gap_carries_its_last_archived_cumulative_volume(tmp_path: Path) -> None:
    quote = Record("scalp", "sim", "H0STASP0", "005930", {"ask1": 1}, ns(T0 + timedelta(seconds=9)))
    write(
        tmp_path / "scalp_20260105_10.jsonl",
        [trade("005930", T0, 700), trade("005930", T0 + timedelta(seconds=1), 750), quote,
         tick("000660", T0)],
    )  # fmt: skip
    gaps = {g.symbol: g.data for g in downtime_gaps(tmp_path, ns(T0 + timedelta(minutes=1)), "sim")}
    assert gaps["005930"]["acc_volume_from"] == 750  # the newest trade, not the newest record
    assert gaps["005930"]["business_date"] == "20260105"
    assert gaps["005930"]["start"] == kst_iso(ns(T0 + timedelta(seconds=9)))
    assert gaps["000660"]["acc_volume_from"] is None  # no usable trade: the start tells


def test_an_earlier_day_cut_short_gives_gaps_per_symbol(tmp_path: Path) -> None:
    write(tmp_path / "scalp_20260105_10.jsonl", [trade("005930", T0, 10), trade("000660", T0, 5)])
    seen: list[tuple[str, int]] = []

    def cut_short(day: str, last_ns: int) -> bool:
        seen.append((day, last_ns))
        return True

    gaps = downtime_gaps(tmp_path, ns(T0 + timedelta(days=1)), "sim", cut_short)
    assert seen == [("20260105", ns(T0))]
    assert sorted((g.symbol, g.data["acc_volume_from"]) for g in gaps) == [
        ("000660", 5), ("005930", 10)
    ]  # fmt: skip
    gaps = downtime_gaps(tmp_path, ns(T0 + timedelta(days=1)), "sim", lambda _d, _n: False)
    assert [(g.data["scope"], g.symbol) for g in gaps] == [("stream", "")]
