"""What the simulator sends parses cleanly with the client's own frame parser, all day long."""

from __future__ import annotations

from datetime import datetime

from observer.clock import KST, ManualClock, kst_hhmmss
from observer.kis.frames import DataMessage, parse_message
from observer.sim.market import SimMarket
from observer.sim.wire import book_record, data_frame, trade_record


def test_a_whole_day_of_frames_parses_with_exact_volumes() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 8, 0, tzinfo=KST))
    market = SimMarket(11, clock, 100, activity=0.02)
    code = min(market.issues, key=lambda issue: issue.rank).code
    market.watch(code)
    sessions: set[str] = set()
    times: list[str] = []
    previous = 0
    for _ in range(11 * 60):  # 08:00 to 19:00 in one-minute steps
        clock.advance(60)
        state, ticks = market.take_trades(code)
        for start in range(0, len(ticks), 5):
            group = ticks[start : start + 5]
            records = [trade_record(state, tick, extra_field=start % 2 == 0) for tick in group]
            message = parse_message(data_frame("H0STCNT0", records), clock.now_ns())
            assert isinstance(message, DataMessage)
            assert not message.rejects and message.count == len(group)
            for record, tick in zip(message.records, group, strict=True):
                data = record.data
                assert data["acc_volume"] == previous + data["trade_volume"]
                previous = data["acc_volume"]
                assert data["trade_time"] == kst_hhmmss(tick.ns)
                assert data["business_date"] == "20261126"
                sessions.add(data["session_code"])
                times.append(data["trade_time"])
        if ticks:
            book = parse_message(data_frame("H0STASP0", [book_record(state, clock.now_ns())]), 0)
            assert isinstance(book, DataMessage) and not book.rejects
            assert book.records[0].data["ask1"] > book.records[0].data["bid1"]
    assert sessions == {"20", "31", "40"}
    assert times[0] == "090000" and times == sorted(times)
    assert not any("083000" <= t < "090000" or "153000" <= t < "154000" for t in times)
    assert times[-1] <= "180000"
