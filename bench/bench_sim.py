"""How many trades per second the simulator can generate.

bulk: the whole 2,400-issue universe fast-forwarded from the open to 15:00 (quotes' path).
stream: the 41 busiest issues watched, trades generated one by one and formatted as H0STCNT0
records (the WebSocket path), over the first twenty simulated minutes.
wire: the simulator serving those 41 registrations over a loopback WebSocket to a
KisWebSocketSession that parses every frame (both in this one process), clock at SPEED x from 09:10.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from observer.clock import KST, Clock, ManualClock
from observer.config.redact import Redactor
from observer.config.settings import settings_for_tests
from observer.kis.account import KisAccount
from observer.kis.ws import KisWebSocketSession, WsData, WsEvent
from observer.metrics import Metrics
from observer.sim.market import SimMarket
from observer.sim.server import SimServer
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


SPEED = 60.0


async def bench_wire(seconds: float = 10.0) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    clock = Clock(datetime(2026, 11, 26, 9, 10, tzinfo=KST), speed=SPEED)
    server = SimServer(settings_for_tests(home), clock)
    await server.start()
    settings = settings_for_tests(home, KIS_BASE_URL=server.base_url, KIS_WS_URL=server.ws_url)
    out: asyncio.Queue[WsData | WsEvent] = asyncio.Queue(maxsize=100_000)
    async with aiohttp.ClientSession() as http:
        account = KisAccount(
            settings, "fake-app-key", "fake-app-secret", clock, Metrics(), Redactor(), http
        )
        session = KisWebSocketSession(
            server.ws_url, account, clock, Metrics(), name="bench", silence_seconds=60,
            market_hours=lambda: True, out=out,
        )  # fmt: skip
        task = asyncio.create_task(session.run())
        codes = [i.code for i in sorted(server.market.issues, key=lambda i: i.rank)[:41]]
        first = await out.get()
        assert isinstance(first, WsEvent) and first.kind == "connected", first
        for code in codes:
            await session.register("H0STCNT0", code)
        frames = records = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            item = await out.get()
            if isinstance(item, WsData) and hasattr(item.message, "records"):
                frames += 1
                records += len(item.message.records)
        elapsed = time.perf_counter() - started
        await session.stop()
        await task
    await server.stop()
    print(
        f"wire:   {records:>10,} trades in {elapsed:6.2f} s = {records / elapsed:>12,.0f} trades/s"
        f" ({frames / elapsed:,.0f} frames/s, sim + session in one process)"
    )


if __name__ == "__main__":
    bench_bulk()
    bench_stream()
    asyncio.run(bench_wire())
