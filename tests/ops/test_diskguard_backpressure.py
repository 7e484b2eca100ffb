"""A disk event the archive cannot take in time is kept and sent at the next check, not lost."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import orjson

from observer.archive.batch import Group
from observer.archive.exceptions import ArchiveWriteError
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.metrics import Metrics
from observer.ops.diskguard import MB, DiskGuard, DiskSpace
from observer.pipeline.record import Record


async def test_a_disk_event_behind_a_full_queue_is_sent_later(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    writer = ArchiveWriter(assets, Clock(), Metrics(), batch_max=1, queue_max=16)
    await writer.start()
    entered, release = threading.Event(), threading.Event()
    real_write = writer._write

    def held_write(groups: list[Group]) -> tuple[int, ArchiveWriteError | None]:
        entered.set()
        assert release.wait(20)
        return real_write(groups)

    writer._write = held_write  # type: ignore[method-assign]
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
