"""Track B streamer: session output -> pipeline -> archive, quarantine, disconnect gaps."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from observer.archive.writer import ArchiveWriter
from observer.clock import KST, NS_PER_S, ManualClock
from observer.config.settings import Settings
from observer.kis.frames import parse_message
from observer.market.calendar import MarketCalendar
from observer.market.outlet import RecordOutlet
from observer.market.streamer import ScalpStreamer
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline
from tests.waiting import wait_until

from .archive_files import archived, events, quarantined, started_outlet
from .frames import frame, trade_fields

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=KST)


@dataclass
class Data:
    recv_ns: int
    message: Any


@dataclass
class Event:
    kind: str
    at_ns: int
    reason: str = ""


@dataclass
class Rig:
    """A streamer over a started archive, with its clock and input queue."""

    clock: ManualClock
    writer: ArchiveWriter
    outlet: RecordOutlet
    queue: asyncio.Queue[Any]
    streamer: ScalpStreamer


async def streamer_rig(settings: Settings, queue_max: int, registered: list[str]) -> Rig:
    """A ScalpStreamer "ws1" at T0 writing through a started archive (not yet running)."""
    clock = ManualClock(T0)
    metrics = Metrics()
    writer, outlet = await started_outlet(settings, clock, metrics)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_max)
    streamer = ScalpStreamer(
        "ws1", queue, clock, outlet, pipeline, source_label="sim", registered=lambda: registered
    )
    return Rig(clock, writer, outlet, queue, streamer)


async def test_data_events_rejects_and_disconnect_gaps_reach_the_archive(
    make_settings: Any,
) -> None:
    settings: Settings = make_settings()
    rig = await streamer_rig(settings, 16, ["005930", "000660"])
    clock, writer, streamer = rig.clock, rig.writer, rig.streamer
    t = clock.now_ns()
    burst = frame(
        trade_fields("005930", trade_volume=100, acc_volume=100),
        trade_fields("005930", trade_volume=50, acc_volume=150, buy_count=2),
    )
    later = frame(trade_fields("005930", trade_volume=10, acc_volume=400, buy_count=3))
    items = [
        Event("connected", t),
        Data(t + 1, parse_message(burst, t + 1)),
        Data(t + 2, parse_message("0|H0STCNT0|002|005930^093000", t + 2)),
        Event("disconnected", t + 10 * NS_PER_S, "peer closed"),
        Event("connected", t + 25 * NS_PER_S),
        Data(t + 26 * NS_PER_S, parse_message(later, t + 26 * NS_PER_S)),
    ]
    await streamer.handle(items)
    await writer.close()

    scalp = archived(settings.assets_dir, "scalp")
    assert [r["data"]["acc_volume"] for r in scalp] == [100, 150, 400]
    assert {r["source"] for r in scalp} == {"sim"}
    assert all(r["tr_id"] == "H0STCNT0" and r["raw"].startswith("005930^") for r in scalp)
    assert scalp[0]["recv_ns"] == t + 1

    connections = events(settings.assets_dir, "connection")
    assert [c["data"]["state"] for c in connections] == ["connected", "disconnected", "connected"]
    gaps = events(settings.assets_dir, "gap")
    disconnect = [g for g in gaps if g["data"]["reason"] == "disconnect"]
    assert sorted(g["symbol"] for g in disconnect) == ["000660", "005930"]
    assert disconnect[0]["data"]["start"].startswith("2026-01-05T09:30:10")
    assert disconnect[0]["data"]["end"].startswith("2026-01-05T09:30:25")
    jump = [g for g in gaps if g["data"]["reason"] == "acc_volume_jump"]
    assert [g["data"]["missed_volume"] for g in jump] == [240]

    lines = quarantined(settings.quarantine_dir)
    assert [(q["tr_id"], q["raw"]) for q in lines] == [("H0STCNT0", "0|H0STCNT0|002|005930^093000")]
    status = streamer.status()
    assert status["connected"] is True and status["reconnects"] == 1
    assert status["records"] == 3 and status["rejects"] == 1


async def test_a_deliberate_close_is_not_a_gap(make_settings: Any) -> None:
    settings: Settings = make_settings()
    rig = await streamer_rig(settings, 4, ["005930"])
    clock, writer, outlet, streamer = rig.clock, rig.writer, rig.outlet, rig.streamer
    t = clock.now_ns()
    await streamer.handle([Event("connected", t)])
    streamer.closing = True
    await streamer.handle([Event("disconnected", t + NS_PER_S)])
    await outlet.archive(streamer.close_window(t + 2 * NS_PER_S))
    await writer.close()
    assert events(settings.assets_dir, "gap") == []


async def test_records_refused_by_the_archive_become_a_gap(make_settings: Any) -> None:
    settings: Settings = make_settings()
    rig = await streamer_rig(settings, 8, ["005930"])
    clock, writer, queue, streamer = rig.clock, rig.writer, rig.queue, rig.streamer
    task = asyncio.create_task(streamer.run())
    t = clock.now_ns()

    def data(acc: int, at_ns: int) -> Data:
        text = frame(trade_fields("005930", trade_volume=10, acc_volume=acc, buy_count=acc // 10))
        return Data(at_ns, parse_message(text, at_ns))

    await queue.put(data(10, t))
    await wait_until(lambda: streamer.stats.records == 1, timeout=5.0)
    writer.pause("disk full")
    clock.advance(5)
    for i in range(2, 12):  # more than the queue holds: the stream keeps being consumed
        await queue.put(data(10 * i, clock.now_ns()))
    await wait_until(lambda: streamer.stats.records == 11 and queue.empty(), timeout=5.0)
    writer.resume()
    clock.advance(5)
    await queue.put(data(120, clock.now_ns()))
    await wait_until(
        lambda: streamer.stats.records == 12 and not streamer.archive_refusing, timeout=5.0
    )
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await writer.close()
    scalp = archived(settings.assets_dir, "scalp")
    assert [r["data"]["acc_volume"] for r in scalp] == [10, 120]
    [gap] = [g for g in events(settings.assets_dir, "gap")]
    assert gap["symbol"] == "005930" and gap["data"]["reason"] == "archive_refused"
    assert gap["data"]["start"].startswith("2026-01-05T09:30:05")
    assert gap["data"]["end"].startswith("2026-01-05T09:30:10")


async def test_finish_handles_everything_queued_then_ends(make_settings: Any) -> None:
    settings: Settings = make_settings()
    rig = await streamer_rig(settings, 4, ["005930"])
    clock, writer, queue, streamer = rig.clock, rig.writer, rig.queue, rig.streamer
    task = asyncio.create_task(streamer.run())
    t = clock.now_ns()
    for i in range(1, 10):  # more than the queue holds, the streamer keeps taking them
        text = frame(trade_fields("005930", trade_volume=10, acc_volume=10 * i, buy_count=i))
        await queue.put(Data(t + i, parse_message(text, t + i)))
    await streamer.finish()
    await asyncio.wait_for(task, 5)
    await writer.close()
    assert [r["data"]["acc_volume"] for r in archived(settings.assets_dir, "scalp")] == [
        10 * i for i in range(1, 10)
    ]
