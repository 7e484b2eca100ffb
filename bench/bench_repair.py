"""Gap repair after a 60-second disconnect of 41 busy symbols, while track A keeps sweeping.

Real time (clock speed 1), the simulator's 2,400-issue market at 10:00, one app key at its
real-account rate (19 requests/s): the 41 busiest issues are streamed through a cuttable
loopback proxy; the proxy is cut for 60 s; after the reconnect every symbol's first trade
reveals a volume jump and the repairer fetches the missed trades back from FHPST01060000 at
background priority, while a full-universe sweep (80 multi-quote calls) starts every
SWEEP_INTERVAL seconds. Printed: wall time from the reconnect until every gap is settled, the
outcomes, trades recovered, time-and-sales calls, EGW00201 answers (must be 0), and each
sweep's start delay and duration before and during the repair.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import aiohttp

from observer.archive.quarantine import QuarantineWriter
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, Clock
from observer.config.redact import Redactor
from observer.config.settings import settings_for_tests
from observer.kis.account import KisAccount
from observer.kis.ws import KisWebSocketSession
from observer.market.calendar import MarketCalendar
from observer.market.outlet import RecordOutlet
from observer.market.repair import GapRepairer
from observer.market.sources import AccountQuoteSource
from observer.market.streamer import ScalpStreamer
from observer.market.sweep import SwingSweeper
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline
from observer.sim.server import SimServer

START = datetime(2026, 11, 26, 10, 0, tzinfo=KST)
WARM_UP_S = 10.0
DISCONNECT_S = 60.0
SWEEP_INTERVAL_S = 20.0
SYMBOLS = 41


class Proxy:
    """A loopback TCP proxy that can refuse and drop connections for a while."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers |= {writer, up_writer}
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in (writer, up_writer):
            w.transport.abort()
            self._writers.discard(w)

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def sweeps(
    sweeper: SwingSweeper, codes: list[str], log: list[tuple[float, float, float]]
) -> None:
    """A sweep every SWEEP_INTERVAL_S: (due, start delay, duration) per sweep."""
    due = time.perf_counter()
    while True:
        delay = max(0.0, due - time.perf_counter())
        await asyncio.sleep(delay)
        started = time.perf_counter()
        await sweeper.sweep(codes)
        log.append((due, started - due, time.perf_counter() - started))
        due += SWEEP_INTERVAL_S
        while due < time.perf_counter():
            due += SWEEP_INTERVAL_S  # a missed start: counted by the gap in the log


async def poll(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds, checked every 50 ms (counters of other tasks)."""
    while not condition():  # noqa: ASYNC110 - a benchmark polling counters, not a test
        await asyncio.sleep(0.05)


async def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-repair-"))
    clock = Clock(START, speed=1.0)
    server = SimServer(settings_for_tests(home, OBSERVER_SIM_ISSUES=2400), clock)
    await server.start()
    proxy = Proxy(server.port)
    await proxy.start()
    settings = settings_for_tests(
        home, KIS_BASE_URL=server.base_url, KIS_WS_URL=f"ws://127.0.0.1:{proxy.port}",
        KIS_MASTER_URL=server.master_url, KIS_RATE_LIMIT_PER_SECOND=19,
    )  # fmt: skip
    metrics = Metrics()
    writer = ArchiveWriter(settings.assets_dir, clock, metrics, fsync_ms=20)
    await writer.start()
    quarantine = QuarantineWriter(settings.quarantine_dir, clock, metrics)
    outlet = RecordOutlet(writer, quarantine, clock)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=100_000)
    async with aiohttp.ClientSession() as http:
        account = KisAccount(
            settings, "fake-app-key", "fake-app-secret", clock, metrics, Redactor(), http
        )
        session = KisWebSocketSession(
            settings.kis_ws_url, account, clock, metrics, name="ws1", silence_seconds=600,
            market_hours=lambda: True, out=queue,  # type: ignore[arg-type]
        )  # fmt: skip
        repairer = GapRepairer(
            account.rest, clock, outlet, metrics, source_label="sim",
            last_acc_volume=pipeline.ticks.last_acc_volume,
        )  # fmt: skip
        codes = [i.code for i in sorted(server.market.issues, key=lambda i: i.rank)[:SYMBOLS]]
        streamer = ScalpStreamer(
            "ws1", queue, clock, outlet, pipeline, source_label="sim",
            registered=lambda: codes, repair=repairer,
        )  # fmt: skip
        universe = [i.code for i in server.market.issues]
        sweeper = SwingSweeper(
            clock, metrics, AccountQuoteSource(account, clock), outlet, pipeline,
            source_label="sim",
        )  # fmt: skip
        sweep_log: list[tuple[float, float, float]] = []
        tasks = [
            asyncio.create_task(session.run()),
            asyncio.create_task(streamer.run()),
            asyncio.create_task(repairer.run()),
        ]
        for code in codes:
            await session.register("H0STCNT0", code)
        tasks.append(asyncio.create_task(sweeps(sweeper, universe, sweep_log)))
        await asyncio.sleep(WARM_UP_S)
        cut_at = time.perf_counter()
        proxy.cut()
        await asyncio.sleep(DISCONNECT_S)
        proxy.up = True
        back_at = time.perf_counter()
        await poll(lambda: streamer.stats.connected and len(session.registered) == SYMBOLS)
        reconnected_at = time.perf_counter()  # the blind windows are noted: pending > 0
        await poll(lambda: not (repairer.status()["pending"] or repairer.status()["queued"]))
        settled_at = time.perf_counter()
        status = repairer.status()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.stop()
    await writer.close()
    await quarantine.close()
    await proxy.stop()
    await server.stop()
    limited = sum(server.counters()["rate_limited"].values())
    print(f"disconnect: {DISCONNECT_S:.0f} s of {SYMBOLS} busy symbols")
    print(f"reconnected {reconnected_at - back_at:.1f} s after the network came back (backoff)")
    print(f"repair wall time after the reconnect: {settled_at - reconnected_at:6.1f} s")
    print(
        f"gaps: repaired {status['repaired']}, partial {status['partial']}, unrepairable "
        f"{status['unrepairable']}; trades recovered {status['trades_recovered']:,}"
    )
    print(f"time-and-sales calls: {status['calls']}; EGW00201 answers: {limited}")
    for due, late, took in sweep_log:
        phase = (
            "before the cut" if due < cut_at
            else "disconnected" if due < reconnected_at
            else "repairing" if due < settled_at
            else "after"
        )  # fmt: skip
        print(f"sweep at +{due - sweep_log[0][0]:5.1f} s ({phase}): started {late:5.2f} s late, "
              f"took {took:5.2f} s")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
