"""Track A scheduling: a sweep that overruns its interval is never started twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from observer.clock import KST, ManualClock
from observer.config.settings import Settings
from observer.exceptions import ObserverError
from observer.market.calendar import MarketCalendar
from observer.market.sweep import SweepScheduler, SwingSweeper
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline

from .archive_files import archived, events, started_outlet

OPEN = datetime(2026, 1, 5, 9, 0, tzinfo=KST)


@dataclass
class Quote:
    symbol: str
    data: dict[str, Any]
    raw: str = "{}"


@dataclass
class GatedSource:
    """Answers quotes; the first sweep's calls wait until the gate opens (a slow API)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0
    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    async def multi_quotes(self, symbols: Sequence[str]) -> list[Quote]:
        self.calls += 1
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        return [Quote(s, {"price": 10_000, "acc_volume": self.calls}) for s in symbols]

    async def masters(self) -> list[Any]:
        return []


async def test_overrun_sweep_is_skipped_and_recorded_as_a_gap(make_settings: Any) -> None:
    settings: Settings = make_settings()
    clock = ManualClock(OPEN - timedelta(seconds=1))
    metrics = Metrics()
    writer, outlet = await started_outlet(settings, clock, metrics)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim", swing_interval_seconds=60)
    source = GatedSource()
    sweeper = SwingSweeper(clock, metrics, source, outlet, pipeline, source_label="sim")
    scheduler = SweepScheduler(sweeper, clock, 60)
    symbols = [f"{i:06d}" for i in range(45)]

    async def release_after_skip() -> None:
        await source.waiting.wait()
        while scheduler.missed == 0:  # the 09:01 slot comes while the first sweep hangs
            await asyncio.sleep(0)
        source.gate.set()

    releaser = asyncio.create_task(release_after_skip())
    await asyncio.wait_for(
        scheduler.run(lambda: symbols, OPEN, OPEN + timedelta(minutes=3)), timeout=10
    )
    await releaser
    await writer.close()

    sweeps = events(settings.assets_dir, "sweep")
    assert scheduler.missed >= 1
    assert len(sweeps) == 3 - scheduler.missed
    assert all(s["data"]["calls"] == 2 for s in sweeps)  # ceil(45 / 30)
    gaps = [g for g in events(settings.assets_dir, "gap") if g["data"]["scope"] == "sweep"]
    missed = [g for g in gaps if g["data"]["reason"] == "missed_sweep"]
    assert len(missed) == scheduler.missed  # recorded once, not again by the next sweep
    assert missed[0]["data"]["start"].startswith("2026-01-05T09:01:00")
    swing = archived(settings.assets_dir, "swing")
    assert len(swing) == 45 * len(sweeps)
    first_id = swing[0]["data"]["sweep_id"]
    assert sum(1 for r in swing if r["data"]["sweep_id"] == first_id) == 45


async def test_a_sweep_the_archive_refused_is_recorded_with_the_next(make_settings: Any) -> None:
    settings: Settings = make_settings()
    clock = ManualClock(OPEN)
    metrics = Metrics()
    writer, outlet = await started_outlet(settings, clock, metrics)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
    source = GatedSource()
    source.gate.set()
    sweeper = SwingSweeper(clock, metrics, source, outlet, pipeline, source_label="sim")
    symbols = ["000010", "000020"]
    writer.pause("disk full")
    with pytest.raises(ObserverError):
        await sweeper.sweep(symbols)
    writer.resume()
    clock.advance(60)
    await sweeper.sweep(symbols)
    await writer.close()
    [gap] = events(settings.assets_dir, "gap")
    assert gap["data"]["reason"] == "archive_refused" and gap["data"]["scope"] == "sweep"
    assert gap["data"]["start"].startswith("2026-01-05T09:00:00")
    assert len(archived(settings.assets_dir, "swing")) == 2


def test_due_times_follow_the_grid_and_a_late_start_sweeps_at_once() -> None:
    scheduler = SweepScheduler(None, ManualClock(OPEN), 300)  # type: ignore[arg-type]
    end = OPEN + timedelta(minutes=16)

    def times(now: datetime) -> list[str]:
        return [f"{t:%H:%M:%S}" for t in scheduler.due_times(OPEN, end, now)]

    assert times(OPEN - timedelta(minutes=5)) == ["09:00:00", "09:05:00", "09:10:00", "09:15:00"]
    assert times(OPEN + timedelta(minutes=2)) == ["09:02:00", "09:05:00", "09:10:00", "09:15:00"]
    # one second before a grid point: sweep now, skip that point rather than overrun into it
    late = OPEN + timedelta(minutes=4, seconds=59)
    assert times(late) == ["09:04:59", "09:10:00", "09:15:00"]
    assert times(OPEN + timedelta(minutes=5)) == ["09:05:00", "09:10:00", "09:15:00"]
    assert times(end) == []
