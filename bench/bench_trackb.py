"""Track B throughput on one core: frame text -> parse -> pipeline -> archive (fsync'd).

Builds H0STCNT0 frames (1 to 4 trades each, 40 symbols, consistent cumulative volumes), then
times the whole path the service runs for them: ``parse_message`` per frame, the streamer's
batch handling (records, pipeline validation/enrichment/gap checks), the outlet's submission
and the archive writer's group commit, until the last record is fsync'd.
Floor: >= 50,000 records/s.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from observer.archive.quarantine import QuarantineWriter
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, NS_PER_S, Clock
from observer.config.settings import settings_for_tests
from observer.kis.frames import parse_message
from observer.market.calendar import MarketCalendar
from observer.market.outlet import RecordOutlet
from observer.market.streamer import ScalpStreamer
from observer.metrics import Metrics
from observer.pipeline.guard import SymbolProfile
from observer.pipeline.process import Pipeline

RECORDS = 300_000
SYMBOLS = [f"{i * 10 + 5:06d}" for i in range(40)]
START = datetime(2026, 1, 5, 10, 0, tzinfo=KST)
HANDLE_BATCH = 256  # frames per streamer batch (what one drain of the queue takes in a burst)


@dataclass
class WsData:
    recv_ns: int
    message: Any


def trade(symbol: str, second: int, price: int, volume: int, acc: int, count: int) -> str:
    hhmmss = f"{10 + second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}"
    fields = [
        symbol, hhmmss, str(price), "2", "50", "0.50", f"{price}.00", str(price), str(price),
        str(price), str(price + 10), str(price), str(volume), str(acc), str(acc * price),
        "0", str(count), str(count), "100.00", "0", str(acc), "1", "50.00", "10.00",
        "090000", "2", "0", "090000", "2", "0", "090000", "2", "0", "20260105", "20", "N",
        "100", "100", "1000", "1000", "0.01", "500", "10.00", "0", "00", str(price),
    ]  # fmt: skip
    return "^".join(fields)


def build_frames() -> list[tuple[int, str]]:
    acc = dict.fromkeys(SYMBOLS, 0)
    count = dict.fromkeys(SYMBOLS, 0)
    frames: list[tuple[int, str]] = []
    made = 0
    i = 0
    base_ns = int(START.timestamp() * NS_PER_S)
    while made < RECORDS:
        symbol = SYMBOLS[i % len(SYMBOLS)]
        n = 1 + i % 4
        second = made * 3600 // RECORDS
        parts = []
        for _ in range(n):
            volume = 1 + (i * 7) % 50
            acc[symbol] += volume
            count[symbol] += 1
            parts.append(trade(symbol, second, 10_000, volume, acc[symbol], count[symbol]))
        frames.append((base_ns + second * NS_PER_S, f"0|H0STCNT0|{n:03d}|" + "^".join(parts)))
        made += n
        i += 1
    return frames


async def run(home: Path) -> None:
    settings = settings_for_tests(home)
    clock = Clock(START, 1.0)
    metrics = Metrics()
    writer = ArchiveWriter(settings.assets_dir, clock, metrics, queue_max=100_000)
    await writer.start()
    quarantine = QuarantineWriter(settings.quarantine_dir, clock, metrics)
    outlet = RecordOutlet(writer, quarantine, clock)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
    pipeline.set_universe({s: SymbolProfile("KOSPI", base_price=10_000) for s in SYMBOLS})
    streamer = ScalpStreamer(
        "bench",
        asyncio.Queue(maxsize=1),
        clock,
        outlet,
        pipeline,
        source_label="sim",
        registered=lambda: SYMBOLS,
    )
    frames = build_frames()
    gc.collect()
    gc.freeze()  # the prebuilt input is not part of the measured work
    started = time.perf_counter()
    cpu_started = time.process_time()
    for offset in range(0, len(frames), HANDLE_BATCH):
        batch = []
        for recv_ns, text in frames[offset : offset + HANDLE_BATCH]:
            message = parse_message(text, recv_ns)
            batch.append(WsData(recv_ns, message))
        await streamer.handle(batch)
    await writer.close()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    records = streamer.stats.records
    await quarantine.close()
    stored = writer.stats()
    print(f"track B: {records:,} records in {len(frames):,} frames")
    print(f"  parse -> pipeline -> archive (fsync'd): {elapsed:.2f} s")
    print(f"  throughput: {records / elapsed:,.0f} records/s (floor 50,000)")
    print(f"  CPU time: {cpu:.2f} s -> {records / cpu:,.0f} records per CPU second")
    print(
        f"  rejects: {streamer.stats.rejects}; archive streams: {list(stored.get('streams', {}))}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
