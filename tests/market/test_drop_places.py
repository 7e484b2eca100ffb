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
