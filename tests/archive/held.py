"""An ArchiveWriter whose disk writes wait until the test lets them through."""

from __future__ import annotations

import threading
from pathlib import Path

from observer.archive.batch import Group
from observer.archive.exceptions import ArchiveWriteError
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock
from observer.metrics import Metrics


async def held_writer(
    assets: Path,
    clock: Clock,
    metrics: Metrics,
    *,
    batch_max: int,
    queue_max: int,
    hold_seconds: float = 10.0,
) -> tuple[ArchiveWriter, threading.Event, threading.Event]:
    """A started writer whose disk writes wait: ``entered`` is set when one is waiting,
    setting ``release`` lets them through (a write not released within ``hold_seconds``
    fails the test)."""
    w = ArchiveWriter(assets, clock, metrics, batch_max=batch_max, queue_max=queue_max)
    await w.start()
    entered, release = threading.Event(), threading.Event()
    real_write = w._write

    def held_write(groups: list[Group]) -> tuple[int, ArchiveWriteError | None]:
        entered.set()
        assert release.wait(hold_seconds)
        return real_write(groups)

    w._write = held_write  # type: ignore[method-assign]
    return w, entered, release
