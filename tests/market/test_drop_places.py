"""Records a stuck streamer leaves queued at shutdown become gaps with their count."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from observer.clock import KST, NS_PER_S, ManualClock, kst_iso
from observer.kis.frames import parse_message
from observer.market.calendar import MarketCalendar
from observer.market.streamer import DROPPED_REASON, ScalpStreamer
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline

from .archive_files import started_outlet
from .frames import frame, trade_fields

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=KST)


@dataclass
class Data:
    recv_ns: int
    message: Any


async def test_abandoned_queue_becomes_one_gap_per_symbol(make_settings: Any) -> None:
    settings = make_settings()
    clock = ManualClock(T0)
    metrics = Metrics()
    writer, outlet = await started_outlet(settings, clock, metrics)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)
    streamer = ScalpStreamer("ws1", queue, clock, outlet, pipeline, source_label="sim",
                             registered=lambda: ["005930", "000660"])  # fmt: skip
    t = clock.now_ns()
    for i, symbol in enumerate(("005930", "000660", "005930")):
        text = frame(trade_fields(symbol, acc_volume=100 + i))
        queue.put_nowait(Data(t + i * NS_PER_S, parse_message(text, t + i * NS_PER_S)))
    gaps = streamer.abandon()
    await writer.close()
    assert queue.empty()
    found = {g.symbol: g.data for g in gaps}
    assert set(found) == {"005930", "000660"}
    assert found["005930"]["records"] == 2 and found["000660"]["records"] == 1
    assert all(d["reason"] == DROPPED_REASON for d in found.values())
    assert found["005930"]["start"] == kst_iso(t) and found["005930"]["end"] == kst_iso(
        t + 2 * NS_PER_S
    )
    assert streamer.abandon() == []  # nothing queued: nothing to record


@dataclass
class Event:
    kind: str
    at_ns: int
    reason: str = ""


async def test_a_source_that_stops_for_good_leaves_a_gap_to_the_stop(make_settings: Any) -> None:
    settings = make_settings()
    clock = ManualClock(T0)
    metrics = Metrics()
    writer, outlet = await started_outlet(settings, clock, metrics)
    pipeline = Pipeline(MarketCalendar(settings), metrics, source="sim")
    streamer = ScalpStreamer("ws1", asyncio.Queue(maxsize=8), clock, outlet, pipeline,
                             source_label="sim", registered=lambda: ["005930"])  # fmt: skip
    t = clock.now_ns()
    await streamer.handle([Event("connected", t), Event("fatal", t + NS_PER_S, "EGW00103")])
    end = t + 600 * NS_PER_S
    gaps = streamer.close_window(end)  # what track B does when it stops
    await writer.close()
    assert [(g.symbol, g.data["start"], g.data["end"]) for g in gaps] == [
        ("005930", kst_iso(t + NS_PER_S), kst_iso(end))
    ]


async def test_dropped_trades_are_fetched_back_when_streaming_stops(sim_rig: Any) -> None:
    from observer.clock import kst_hhmmss
    from observer.market.repair import GapRepairer

    from .archive_files import archived, events
    from .test_repair import TEN, busiest

    rig = await sim_rig(start=TEN, OBSERVER_SIM_ISSUES=60)
    symbol = busiest(rig)
    ns, _price, volume, acml = rig.sim.market.tape(symbol).tape.columns()[:4]
    # received, left queued by a stuck streamer; the last one's second is over (the repair
    # fetches up to the end of that second)
    last = sum(1 for t in ns if t < rig.clock.now_ns() - 2 * NS_PER_S) - 1
    first = last - 30
    day = TEN.strftime("%Y%m%d")
    writer, outlet = await started_outlet(rig.settings, rig.clock, rig.metrics)
    pipeline = Pipeline(MarketCalendar(rig.settings), rig.metrics, source="sim")
    pipeline.ticks.seed("H0STCNT0", symbol, day, int(acml[first - 1]), int(ns[first - 1]))
    repairer = GapRepairer(
        rig.account().rest, rig.clock, outlet, rig.metrics, source_label="sim",
        last_acc_volume=pipeline.ticks.last_acc_volume,
    )  # fmt: skip
    streamer = ScalpStreamer(
        "ws1", asyncio.Queue(maxsize=64), rig.clock, outlet, pipeline, source_label="sim",
        registered=lambda: [symbol], repair=repairer,
    )  # fmt: skip
    for i in range(first, last + 1):
        fields = trade_fields(symbol, acc_volume=int(acml[i]), trade_volume=int(volume[i]))
        streamer.queue.put_nowait(Data(int(ns[i]), parse_message(frame(fields), int(ns[i]))))
    gaps = streamer.abandon()  # what track B does with them when it stops
    await outlet.archive([*gaps, *repairer.note(gaps, ())])
    worker = asyncio.create_task(repairer.run())
    await repairer.finish(30.0)
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    await writer.close()
    [gap] = [g for g in events(rig.settings.assets_dir, "gap")]
    assert gap["data"]["reason"] == DROPPED_REASON and gap["data"]["repair"] == "pending"
    [report] = events(rig.settings.assets_dir, "gap_repair")
    assert report["data"]["gap_ids"] == [gap["data"]["gap_id"]]
    assert report["data"]["outcome"] == "repaired"
    end_second = kst_hhmmss(int(ns[last]))
    after = rig.sim.market.tape(symbol).tape.columns()
    expected = [
        int(a)
        for t, a in zip(after[0], after[3], strict=True)
        if a > acml[first - 1] and kst_hhmmss(int(t)) <= end_second
    ]
    backfill = [r["data"]["acc_volume"] for r in archived(rig.settings.assets_dir, "scalp")]
    assert backfill == expected and len(expected) >= last - first + 1
