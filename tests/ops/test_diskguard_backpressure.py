"""A disk event the archive cannot take in time is kept and sent at the next check, not lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from observer.clock import Clock
from observer.metrics import Metrics
from observer.ops.diskguard import MB, DiskGuard, DiskSpace
from observer.pipeline.record import Record
from tests.archive.held import held_writer


async def test_a_disk_event_behind_a_full_queue_is_sent_later(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    writer, entered, release = await held_writer(
        assets, Clock(), Metrics(), batch_max=1, queue_max=16, hold_seconds=20
    )
    free = [5000 * MB]
    guard = DiskGuard(Clock(), Metrics(), free_space=lambda: DiskSpace(free[0], 10_000 * MB),
                      warn_free_mb=2000, min_free_mb=100, writer=writer)  # fmt: skip
    guard.submit_timeout = 0.2
    ticks = [Record("scalp", "sim", "H0STCNT0", "005930", {"n": i}, 0) for i in range(17)]
    futures = [await writer.submit(ticks[0])]
    assert await asyncio.to_thread(entered.wait, 10)
    futures += [await writer.submit(t) for t in ticks[1:]]  # the queue is full now
    free[0] = 1000 * MB  # below the warning
    assert await guard.check() == "warn"
    assert len(guard.unsent) == 1  # not taken in time: kept
    release.set()
    for future in futures:
        await future
    await guard.check()  # same state: only the kept event is sent
    assert guard.unsent == []
    await writer.close()
    lines = [x for p in assets.glob("system_*.jsonl") for x in p.read_bytes().splitlines()]
    system = [orjson.loads(x) for x in lines]
    assert [r["data"]["level"] for r in system if r["data"]["event"] == "disk"] == ["warn"]
