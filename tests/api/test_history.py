"""The per-minute history behind /history: deltas of the counters, gauges, bounded memory."""

from __future__ import annotations

import asyncio
from datetime import datetime

from observer.api.history import MetricHistory
from observer.api.server import ApiServer
from observer.clock import KST, ManualClock
from observer.metrics import Metrics
from tests.service_process import get

T0 = datetime(2026, 1, 5, 10, 0, 30, tzinfo=KST)


def test_each_point_holds_one_minute_of_counters_and_the_gauges() -> None:
    clock, metrics = ManualClock(T0), Metrics()
    history = MetricHistory(clock, metrics.registry)
    metrics.records_stored.labels("scalp").inc(500)  # before the baseline: not in any minute
    history.sample()
    metrics.records_stored.labels("scalp").inc(120)
    metrics.records_stored.labels("system").inc(3)
    metrics.quarantined.labels("bad_frame").inc(2)
    metrics.gaps.labels("disconnect").inc(7)
    metrics.ws_reconnects.labels("ws-1").inc()
    metrics.sweep_seconds.observe(3.0)
    metrics.sweep_seconds.observe(5.0)
    metrics.sweep_coverage.set(0.99)
    metrics.loader_lag_seconds.set(4.5)
    metrics.disk_free_bytes.set(2e9)
    metrics.disk_total_bytes.set(1e10)
    metrics.gap_repairs.labels("repaired").inc(5)
    metrics.gap_repairs.labels("unrepairable").inc(4)  # not a repair
    clock.advance(60)
    history.sample()
    clock.advance(60)
    history.sample()  # a quiet minute
    doc = history.as_dict()
    s = doc["series"]
    assert doc["t"] == [int(T0.timestamp()) + 30, int(T0.timestamp()) + 90]  # minute marks
    assert s["stored_scalp"] == [120, 0] and s["stored_system"] == [3, 0]
    assert s["stored_swing"] == [0, 0]
    assert s["quarantined"] == [2, 0] and s["gaps_opened"] == [7, 0]
    assert s["gaps_repaired"] == [5, 0] and s["ws_reconnects"] == [1, 0]
    assert s["sweeps"] == [2, 0] and s["sweep_seconds"] == [4.0, None]
    assert s["sweep_coverage"] == [0.99, None]  # a coverage only where a sweep ran
    assert s["loader_lag_seconds"] == [4.5, 4.5] and s["disk_free_bytes"] == [2e9, 2e9]
    assert set(s) == set(doc["units"])


def test_the_history_is_bounded() -> None:
    clock, metrics = ManualClock(T0), Metrics()
    history = MetricHistory(clock, metrics.registry, minutes=360)
    history.sample()
    for minute in range(400):
        metrics.records_stored.labels("swing").inc(minute)
        clock.advance(60)
        history.sample()
    doc = history.as_dict()
    assert len(doc["t"]) == 360 and doc["series"]["stored_swing"][-1] == 399
    assert doc["series"]["stored_swing"][0] == 40  # the oldest 40 minutes were dropped


async def test_run_samples_at_each_minute_of_the_clock_and_history_is_served() -> None:
    clock, metrics = ManualClock(T0), Metrics()
    history = MetricHistory(clock, metrics.registry)
    server = ApiServer(clock, metrics, "127.0.0.1", 0)
    server.set_history(history.as_dict)
    await server.start()
    task = asyncio.create_task(history.run())
    try:
        async with asyncio.timeout(10):
            while len(history.times) < 3:
                await asyncio.sleep(0)
        task.cancel()  # the manual clock never waits: stop before the history runs on
        code, doc = await asyncio.to_thread(get, f"http://127.0.0.1:{server.bound_port}/history")
    finally:
        task.cancel()
        await server.stop()
    assert code == 200 and doc["interval_seconds"] == 60
    minute = int(T0.timestamp()) - 30
    assert doc["t"][:3] == [minute + 60, minute + 120, minute + 180]  # on the clock's minutes
