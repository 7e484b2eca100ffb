"""Archive ack latency: enqueue -> fsync'd acknowledgement at a paced 5,000 records/s.

Run: .venv/bin/python bench/bench_archive_latency.py   (floor: p99 <= 50 ms)

Every 2 ms the producer submits the records due by then (realistic ~640-byte scalp records);
each record's latency is the time from its ``submit`` call until its future resolved, i.e.
until its batch was written and fsync'd.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench_archive_write import scalp_record
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.metrics import Metrics

RATE = 5_000
SECONDS = 6.0
TICK = 0.002


async def run(directory: Path) -> list[float]:
    clock = Clock()
    writer = ArchiveWriter(directory, clock, Metrics())
    await writer.start()
    latencies: list[float] = []
    pending: list[asyncio.Future[int]] = []
    total = int(RATE * SECONDS)
    sent = 0
    start = time.perf_counter()
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * RATE) + 1)
        while sent < due:
            t0 = time.perf_counter()
            future = await writer.submit(scalp_record(sent, clock.now_ns()))
            future.add_done_callback(lambda _f, t0=t0: latencies.append(time.perf_counter() - t0))
            pending.append(future)
            sent += 1
        await asyncio.sleep(TICK)
    for future in pending:
        await future
    await asyncio.sleep(0)
    await writer.close()
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        latencies = asyncio.run(run(Path(tmp)))
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(f"archive ack latency at {RATE:,} records/s for {SECONDS:.0f} s ({len(ms):,} records)")
    print(
        f"  p50 {q[49]:6.2f} ms   p90 {q[89]:6.2f} ms   p99 {q[98]:6.2f} ms   max {ms[-1]:6.2f} ms"
    )


if __name__ == "__main__":
    main()
