"""Today's gap list, trade rates and slot details (what /status shows beyond counts)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from observer.clock import KST, ManualClock
from observer.market.slots import SlotManager
from observer.market.today import FIRST_SYMBOLS, GapList, TradeRates, slot_details
from observer.metrics import Metrics
from observer.pipeline.gaps import disconnect_gaps
from observer.pipeline.record import Record, system_record

from .archive_files import started_outlet

DAY = date(2026, 1, 5)
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=KST)
NS = 1_000_000_000
T0_NS = int(T0.timestamp()) * NS


def trade(symbol: str) -> Record:
    return Record("scalp", "sim", "H0STCNT0", symbol, {"price": 1}, T0_NS)


def test_a_disconnect_is_one_window_with_its_symbols_newest_first() -> None:
    gaps = GapList()
    symbols = [f"{i:06d}" for i in range(8)]
    gaps.add(disconnect_gaps(symbols, T0_NS, T0_NS + 5 * NS, "disconnect", source="sim"), DAY)
    later = disconnect_gaps(["000001"], T0_NS + 60 * NS, T0_NS + 61 * NS, "disconnect", source="s")
    gaps.add([trade("000001"), *later], DAY)
    listed = gaps.today(DAY)
    assert [g["symbols"] for g in listed] == [1, 8]  # newest first
    first = listed[1]
    assert first["first"] == symbols[:FIRST_SYMBOLS] and first["reason"] == "disconnect"
    assert first["start"].startswith("2026-01-05T10:00:00") and first["end"].startswith(
        "2026-01-05T10:00:05"
    )
    assert first["outcome"] is None and first["recovered"] is None  # no repair reported
    assert gaps.today(date(2026, 1, 6)) == []


def test_repair_outcomes_from_the_gap_or_a_later_report() -> None:
    gaps = GapList()
    window = disconnect_gaps(["000001", "000002"], T0_NS, T0_NS + NS, "disconnect", source="sim")
    gaps.add(window, DAY)
    key = {k: window[0].data[k] for k in ("start", "end", "reason")}
    report = system_record("gap_repair", T0_NS, "sim", "000001", **key, outcome="repaired")
    report.data["recovered"] = 12
    gaps.add([report], DAY)
    assert gaps.today(DAY)[0]["outcome"] == "repaired" and gaps.today(DAY)[0]["recovered"] == 12
    second = system_record("gap_repair", T0_NS, "sim", "000002", **key, outcome="unrepairable")
    gaps.add([second], DAY)
    assert gaps.today(DAY)[0]["outcome"] == "partial"  # one symbol repaired, one not
    carried = system_record(
        "gap", T0_NS, "sim", "000003", start="a", end="b", reason="r", outcome="pending"
    )
    gaps.add([carried], DAY)
    assert gaps.today(DAY)[0]["outcome"] == "pending"


def test_the_list_is_bounded() -> None:
    gaps = GapList(max_windows=3)
    for i in range(5):
        gaps.add([system_record("gap", T0_NS, "sim", "1", start=str(i), end="e", reason="r")], DAY)
    assert [g["start"] for g in gaps.today(DAY)] == ["4", "3", "2"]


def test_trade_rates_per_minute() -> None:
    clock = ManualClock(T0)
    rates = TradeRates(clock)
    rates.add([trade("000001")] * 30 + [system_record("gap", T0_NS, "sim", "000001")])
    clock.advance(30)
    assert rates.per_minute() == {"000001": 60.0}  # 30 trades in half a minute
    clock.advance(40)
    rates.per_minute()  # a new mark, a minute old or more
    rates.add([trade("000001")] * 10)
    clock.advance(50)
    assert rates.per_minute() == {"000001": 20.0}  # 40 trades since the older mark, 2 min ago
    clock.advance(20)  # the mark at 70 s is now older than a minute: the window starts there
    assert rates.per_minute() == {"000001": round(10 / (70 / 60), 1)}


def test_slot_details_name_the_reason_and_since() -> None:
    clock = ManualClock(T0)
    slots = SlotManager(["ws-1"], per_session=3, always_on=["005930"])
    slots.rebalance(["000660"], clock.monotonic())
    clock.advance(90)
    names = {"005930": ("Samsung Electronics", "KOSPI"), "000660": ("SK hynix", "KOSPI")}
    details = slot_details(slots, "ws-1", clock, names, {"000660": 0.8125}, {"000660": 42.0})
    assert details == [
        {
            "code": "005930",
            "name": "Samsung Electronics",
            "market": "KOSPI",
            "reason": "always-on",
            "score": None,
            "since": "2026-01-05T10:00:00.000000+09:00",
            "trades_per_minute": 0.0,
        },
        {
            "code": "000660",
            "name": "SK hynix",
            "market": "KOSPI",
            "reason": "trigger",
            "score": 0.8125,
            "since": "2026-01-05T10:00:00.000000+09:00",
            "trades_per_minute": 42.0,
        },
    ]


def repair_report(symbol: str, gap_ids: list[str], outcome: str, trades: int) -> Record:
    """A gap repair's report, as the repairer archives it after the trades it fetched back."""
    return system_record(
        "gap_repair", T0_NS, "sim", symbol, gap_ids=gap_ids, gap_id=gap_ids[0],
        outcome=outcome, trades_recovered=trades, volume_recovered=trades * 10, reason=None,
    )  # fmt: skip


async def test_repair_reports_through_the_outlet_settle_gaps_by_id(make_settings: Any) -> None:
    clock = ManualClock(T0)
    writer, outlet = await started_outlet(make_settings(), clock, Metrics())
    try:
        window = disconnect_gaps(["000001", "000002"], T0_NS, T0_NS + NS, "disconnect", source="s")
        for gap in window:  # what gap repair puts on each gap record before it is archived
            gap.data["gap_id"], gap.data["repair"] = f"{gap.symbol}-1", "pending"
        await outlet.archive(window)
        assert outlet.gap_list.today(DAY)[0]["outcome"] == "pending"
        backfill = [trade("000001"), trade("000001")]
        await outlet.archive([*backfill, repair_report("000001", ["000001-1"], "repaired", 2)])
        listed = outlet.gap_list.today(DAY)[0]
        assert listed["outcome"] == "pending" and listed["recovered"] == 2  # one still pending
        await outlet.archive([repair_report("000002", ["000002-1"], "unrepairable", 0)])
        listed = outlet.gap_list.today(DAY)[0]
        assert listed["outcome"] == "partial" and listed["recovered"] == 2
    finally:
        await writer.close()
