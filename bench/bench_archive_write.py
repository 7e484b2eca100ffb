"""Archive write throughput: records/s through submit -> group commit -> fsync'd ack.

Run: .venv/bin/python bench/bench_archive_write.py   (floor: >= 100,000 records/s on one core)

Realistic scalp records (~640 bytes a line, ``raw`` included) are submitted one by one with
``submit`` (one future per record) and in chunks with ``submit_many``; the figure is the time
from the first submit until the last record's future resolved (its batch fsync'd). The CPU
figure (records per CPU second of this process) is less sensitive to a busy machine.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from pathlib import Path

from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.metrics import Metrics
from observer.pipeline.record import Record

N = 200_000
CHUNK = 256


_RAW = (
    "005930^093015^71500^2^500^0.70^71420.35^71000^71600^70900^71500^71400^37^1523456^"
    "108812345600^2345^3456^1111^128.45^612345^786543^1^56.12^98.76^090000^5^500"
)


def scalp_record(i: int, recv_ns: int) -> Record:
    """One trade record as the pipeline hands it to the archive."""
    price = 71500 + (i % 50) * 100
    data = {
        "trade_time": "093015",
        "price": price,
        "change_sign": "2",
        "change": 500,
        "change_rate": 0.7,
        "open": 71000,
        "ask1": price,
        "bid1": price - 100,
        "trade_volume": 37 + i % 13,
        "acc_volume": 1523456 + i,
        "acc_value": 108812345600,
        "trade_side": "1",
        "business_date": "20260105",
        "session_code": "20",
        "halted": False,
        "trade_ts": "2026-01-05T09:30:15+09:00",
    }
    return Record("scalp", "sim", "H0STCNT0", "005930", data, recv_ns, raw=_RAW)


def _batches(metrics: Metrics) -> int:
    value = metrics.registry.get_sample_value("observer_archive_fsync_seconds_count")
    return int(value or 0)


async def run(mode: str, directory: Path) -> dict[str, float]:
    clock = Clock()
    metrics = Metrics()
    writer = ArchiveWriter(directory, clock, metrics)
    await writer.start()
    now = clock.now_ns()
    records = [scalp_record(i, now + i) for i in range(N)]
    gc.collect()
    started, cpu0 = time.perf_counter(), time.process_time()
    if mode == "submit":
        futures = [await writer.submit(r) for r in records]
    else:
        futures = [await writer.submit_many(records[i : i + CHUNK]) for i in range(0, N, CHUNK)]
    for future in futures:
        await future
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    size = sum(f["bytes"] for f in writer.stats()["archive"]["files"])
    batches = _batches(metrics)
    await writer.close()
    assert futures[-1].result() == N
    return {"elapsed": elapsed, "cpu": cpu, "size": size, "batches": batches}


def main() -> None:
    print(f"archive write benchmark: {N:,} scalp records, group commit, fsync before ack")
    for mode in ("submit", "submit_many"):
        with tempfile.TemporaryDirectory(dir=".") as tmp:
            r = asyncio.run(run(mode, Path(tmp)))
        print(
            f"  {mode:<12} {N / r['elapsed']:>9,.0f} records/s wall  "
            f"{N / r['cpu']:>9,.0f} records/CPU-s  {r['size'] / r['elapsed'] / 1e6:6.1f} MB/s  "
            f"{r['batches']:.0f} fsync'd batches, {r['size'] / N:.0f} bytes/line"
        )


if __name__ == "__main__":
    main()
