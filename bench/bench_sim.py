"""How many trades per second the simulator can generate.

bulk: the whole 2,400-issue universe fast-forwarded from the open to 15:00 (quotes' path).
stream: the 41 busiest issues watched, trades generated one by one and formatted as H0STCNT0
records (the WebSocket path), over the first twenty simulated minutes.
"""

from __future__ import annotations

import time
from datetime import datetime

from observer.clock import KST, ManualClock
from observer.sim.market import SimMarket
from observer.sim.wire import trade_record


def bench_bulk() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 15, 0, tzinfo=KST))
    market = SimMarket(1, clock, 2400)
    started = time.perf_counter()
    trades = 0
    for issue in market.issues:
        state = market.state(issue.code)
        trades += state.buy_count + state.sell_count
    seconds = time.perf_counter() - started
    print(f"bulk:   {trades:>10,} trades in {seconds:6.2f} s = {trades / seconds:>12,.0f} trades/s")


def bench_stream() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 9, 0, tzinfo=KST))
    market = SimMarket(1, clock, 2400)
    codes = [i.code for i in sorted(market.issues, key=lambda i: i.rank)[:41]]
    for code in codes:
        market.watch(code)
    started = time.perf_counter()
    trades = 0
    for _ in range(1200 * 5):  # twenty minutes in 0.2 s steps
        clock.advance(0.2)
        for code in codes:
            state, ticks = market.take_trades(code)
            for tick in ticks:
                trade_record(state, tick)
            trades += len(ticks)
    seconds = time.perf_counter() - started
    print(f"stream: {trades:>10,} trades in {seconds:6.2f} s = {trades / seconds:>12,.0f} trades/s")


if __name__ == "__main__":
    bench_bulk()
    bench_stream()
