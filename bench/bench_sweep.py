"""Track A: one full sweep of 2,000 symbols against the simulator at 19 requests/s.

The simulator runs in-process on loopback and enforces its per-key limit (20 requests/s, answering
EGW00201 above it); the client's limiter is set to 19/s. The sweep goes through the real path:
KIS REST client -> multi-symbol quotes (30 per call) -> pipeline -> archive.
Floor: <= 5 s for the sweep and zero EGW00201 answers.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from pathlib import Path

import aiohttp

from observer.archive.quarantine import QuarantineWriter
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, Clock
from observer.config.redact import Redactor
from observer.config.settings import settings_for_tests
from observer.kis.account import KisAccount
from observer.market.calendar import MarketCalendar
from observer.market.outlet import RecordOutlet
from observer.market.sources import AccountQuoteSource
from observer.market.sweep import SwingSweeper
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline
from observer.sim.server import SimServer

SYMBOLS = 2000
RATE = 19.0
START = datetime(2026, 1, 5, 10, 0, tzinfo=KST)


def rate_limited(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("observer_kis_rate_limited_total")
    return value or 0.0


async def run(home: Path) -> None:
    base = settings_for_tests(
        home,
        OBSERVER_SIM_ISSUES=2400,
        OBSERVER_SIM_RATE_LIMIT=20,
        KIS_RATE_LIMIT_PER_SECOND=RATE,
    )
    clock = Clock(START, 1.0)
    metrics = Metrics()
    sim = SimServer(base, clock)
    await sim.start("127.0.0.1", 0)
    settings = base.model_copy(
        update={
            "kis_base_url": sim.base_url,
            "kis_ws_url": sim.ws_url,
            "kis_master_url": sim.master_url,
        }
    )
    writer = ArchiveWriter(settings.assets_dir, clock, metrics)
    await writer.start()
    quarantine = QuarantineWriter(settings.quarantine_dir, clock, metrics)
    try:
        async with aiohttp.ClientSession() as http:
            account = KisAccount(
                settings, "bench-app-key", "bench-app-secret", clock, metrics, Redactor([]), http
            )
            source = AccountQuoteSource(account, clock)
            codes = [issue.code for issue in await source.masters()][:SYMBOLS]
            await source.multi_quotes(codes[:1])  # the token is issued outside the measurement
            await asyncio.sleep(1.0)  # let the limiter's bucket refill
            pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
            outlet = RecordOutlet(writer, quarantine, clock)
            sweeper = SwingSweeper(clock, metrics, source, outlet, pipeline, source_label="sim")
            limited_before = rate_limited(metrics)
            result = await sweeper.sweep(codes)
            limited = rate_limited(metrics) - limited_before
    finally:
        await writer.close()
        await quarantine.close()
        await sim.stop()
    print(f"track A sweep of {len(codes):,} symbols at {RATE:.0f} requests/s (simulator)")
    print(f"  duration: {result.duration_seconds:.2f} s (floor 5 s)")
    print(f"  calls: {result.calls} (ceil({len(codes)}/30) = {-(-len(codes) // 30)})")
    print(f"  quoted: {result.quoted:,} (coverage {result.coverage:.1%}), errors: {result.errors}")
    print(f"  rate-limit answers (EGW00201): {int(limited)} (floor 0)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
