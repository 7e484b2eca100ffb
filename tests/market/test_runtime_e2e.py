"""The collector end to end on an accelerated clock against the simulator over loopback.

A short session schedule keeps the run brief: pre-open 08:58, regular 09:00-09:08 (sweeps),
closing auction 09:08-09:10 (still streaming), idle afterwards. The clock starts before the open
and runs 60 times faster than real time; the simulator drops every WebSocket connection every
150 clock seconds, which must leave disconnect gaps in the archive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from observer.archive.quarantine import QuarantineWriter
from observer.archive.writer import ArchiveWriter
from observer.clock import KST, NS_PER_S
from observer.kis.ws import BACKOFF_FIRST_S, BACKOFF_MAX_S, KisWebSocketSession
from observer.market.calendar import MarketCalendar
from observer.market.runtime import MarketRuntime
from observer.market.scalp import kis_session_factory
from tests.waiting import wait_until

from .archive_files import archived, events

SCHEDULE = (
    "pre_open=08:58-09:00,regular=09:00-09:08,closing_auction=09:08-09:10,closing_price=09:30-09:31"
)
SETTINGS = {
    "OBSERVER_SESSION_SCHEDULE": SCHEDULE,
    "OBSERVER_SWING_INTERVAL_SECONDS": 60,
    "OBSERVER_SIM_ISSUES": 200,
    "OBSERVER_SIM_ACTIVITY": 0.05,
    "OBSERVER_SCALP_MAX_SLOTS": 4,
    "OBSERVER_SCALP_MIN_DWELL_SECONDS": 120,
    "OBSERVER_SIM_DROP_WS_SECONDS": 150,
    "OBSERVER_WS_SILENCE_SECONDS": 600,
}


def at(day: datetime, hh: int, mm: int, ss: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss, microsecond=0)


def websockets(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in status["sources"] if s["kind"] == "websocket"]


def ns(when: datetime) -> int:
    return int(when.timestamp() * NS_PER_S)


@asynccontextmanager
async def running(rig: Any, keys: int = 1) -> AsyncIterator[MarketRuntime]:
    s = rig.settings
    writer = ArchiveWriter(s.assets_dir, rig.clock, rig.metrics, fsync_ms=20)
    await writer.start()
    quarantine = QuarantineWriter(s.quarantine_dir, rig.clock, rig.metrics)
    accounts = [rig.account(f"fake-app-key-{i}", f"fake-app-secret-{i}") for i in range(keys)]
    # The reconnect backoff counts real seconds: divided by the clock's speed, the sessions
    # keep the service's 1 s to 30 s schedule in clock time, as at speed 1.
    sessions = kis_session_factory(
        s, rig.clock, rig.metrics,
        backoff_first_s=BACKOFF_FIRST_S / rig.clock.speed,
        backoff_max_s=BACKOFF_MAX_S / rig.clock.speed,
    )  # fmt: skip
    runtime = MarketRuntime(
        s, rig.clock, rig.metrics, writer, quarantine, accounts, MarketCalendar(s),
        session_factory=sessions,
    )  # fmt: skip
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        await writer.close()
        await quarantine.close()


async def test_idle_before_collecting_during_idle_after(sim_rig: Any) -> None:
    day = datetime(2026, 1, 5, tzinfo=KST)
    rig = await sim_rig(start=at(day, 8, 57, 30), speed=60, **SETTINGS)
    clock = rig.clock
    async with running(rig, keys=2) as runtime:
        await clock.sleep_until(at(day, 8, 58, 30))
        before = runtime.status()
        assert before["market"]["session"] == "pre_open"
        assert runtime.ready() == (True, "idle: session pre_open is not collected")
        assert before["universe"]["size"] > 0  # built at start-up: today's was missing
        assert not any(s["connected"] for s in websockets(before))
        await clock.sleep_until(at(day, 9, 5))
        during = runtime.status()
        assert during["market"]["session"] == "regular"
        assert during["sweep"]["coverage"] == 1.0
        assert [len(s["symbols"]) for s in during["slots"]] == [4, 4]  # two app keys
        assert runtime.ready()[0]
        streams = websockets(during)  # streaming (connected or reconnecting after a drop)
        assert [s["registrations"] for s in streams] == [4, 4]
        await clock.sleep_until(at(day, 9, 11))
        after = runtime.status()
        assert after["market"]["session"] is None
        assert [s["symbols"] for s in after["slots"]] == [[], []]
        assert not any(s["connected"] for s in websockets(after))
    assets = rig.settings.assets_dir
    opened, closed = ns(at(day, 9, 0)), ns(at(day, 9, 10))
    slack = 5 * NS_PER_S  # records already received when the close was noticed

    swing = archived(assets, "swing")
    assert swing and all(opened <= r["recv_ns"] < ns(at(day, 9, 8)) + slack for r in swing)
    sweeps = events(assets, "sweep")
    assert 7 <= len(sweeps) <= 9
    size = sweeps[0]["data"]["universe"]
    assert all(s["data"]["calls"] == -(-size // 30) for s in sweeps)
    assert len(swing) == sum(s["data"]["quoted"] for s in sweeps)

    scalp = archived(assets, "scalp")
    received = [r for r in scalp if r["source"] != "backfill"]  # repairs fetch after the fact
    assert received and all(opened <= r["recv_ns"] < closed + slack for r in received)
    assert {r["tr_id"] for r in scalp} == {"H0STCNT0"}

    sessions = [e["data"]["session"] for e in events(assets, "session")]
    assert sessions == [None, "pre_open", "regular", "closing_auction", None]
    slots = events(assets, "slot")
    assert {e["data"]["action"] for e in slots} >= {"assign", "evict"}
    gaps = [g for g in events(assets, "gap") if g["data"]["reason"] == "disconnect"]
    assert gaps, "the simulator dropped connections: disconnect gaps expected"
    assert all(g["symbol"] and g["data"]["scope"] == "symbol" for g in gaps)
    connections = [e["data"]["state"] for e in events(assets, "connection")]
    assert connections.count("connected") >= 4
    assert {e["data"]["session"] for e in slots} == {"ws1", "ws2"}


@pytest.mark.parametrize(
    "day, reason",
    [
        (datetime(2026, 1, 10, tzinfo=KST), "weekend"),
        (datetime(2026, 2, 17, tzinfo=KST), "holiday"),
    ],
)
async def test_nothing_is_collected_on_a_closed_day(
    sim_rig: Any, day: datetime, reason: str
) -> None:
    rig = await sim_rig(start=at(day, 8, 50), speed=600, **SETTINGS)
    async with running(rig) as runtime:
        await rig.clock.sleep_until(at(day, 9, 20))
        ready, why = runtime.ready()
        assert ready and reason in why
        assert runtime.status()["sweep"]["last_started"] is None
    assets = rig.settings.assets_dir
    assert archived(assets, "swing") == [] and archived(assets, "scalp") == []
    [session] = events(assets, "session")
    assert session["data"]["trading_day"] is False
    assert not list(rig.settings.snapshot_dir.glob(f"{day:%Y%m%d}_*"))
    assert timedelta(0) <= rig.clock.now() - at(day, 9, 20) < timedelta(minutes=30)


async def test_the_universe_is_rebuilt_before_the_next_trading_day(sim_rig: Any) -> None:
    friday = datetime(2026, 1, 9, tzinfo=KST)
    monday = datetime(2026, 1, 12, tzinfo=KST)
    rig = await sim_rig(start=at(friday, 18, 30), speed=100_000, **SETTINGS)
    async with running(rig) as runtime:
        await rig.clock.sleep_until(at(monday, 8, 0, 30))
        for _ in range(200):  # the build itself takes a few REST calls
            if runtime.status()["universe"]["date"] == "2026-01-12":
                break
            await rig.clock.sleep(60)
        status = runtime.status()
    assert status["universe"]["date"] == "2026-01-12" and not status["universe"]["fallback"]
    days = sorted(p.name[:8] for p in rig.settings.snapshot_dir.glob("*_universe.json"))
    assert days == ["20260109", "20260112"]  # at start-up (missing), then Monday before the open
    built = [
        e for e in events(rig.settings.assets_dir, "universe") if e["data"]["action"] == "built"
    ]
    assert [e["data"]["date"] for e in built] == ["2026-01-09", "2026-01-12"]
    assert built[1]["ts"] >= "2026-01-12T08:00:00"
    assert archived(rig.settings.assets_dir, "swing") == []


async def test_an_app_key_in_use_elsewhere_makes_the_runtime_unready(sim_rig: Any) -> None:
    day = datetime(2026, 1, 5, tzinfo=KST)
    no_drops = {**SETTINGS, "OBSERVER_SIM_DROP_WS_SECONDS": 0}
    rig = await sim_rig(start=at(day, 9, 1), speed=60, **no_drops)
    other_out: asyncio.Queue[Any] = asyncio.Queue(maxsize=10_000)
    other = KisWebSocketSession(
        rig.settings.kis_ws_url,
        rig.account("fake-app-key-0", "fake-app-secret-0"),  # the runtime's key
        rig.clock,
        rig.metrics,
        name="elsewhere",
        silence_seconds=600,
        market_hours=lambda: True,
        out=other_out,
    )
    other_task = asyncio.create_task(other.run())
    try:
        async with asyncio.timeout(10):
            while getattr(await other_out.get(), "kind", None) != "connected":
                pass
        await other.register("H0STCNT0", "005930")
        async with running(rig) as runtime:
            # first "no universe" until it is built, then the key in use
            await wait_until(lambda: "in use" in runtime.ready()[1], 20)
            ready, reason = runtime.ready()
            assert not ready and "in use" in reason
            [stream] = websockets(runtime.status())
            assert stream["connected"] is False
    finally:
        await other.stop()
        await other_task
    connection_states = [e["data"]["state"] for e in events(rig.settings.assets_dir, "connection")]
    assert "fatal" in connection_states


async def test_an_emptied_universe_names_its_step_in_status_and_event(sim_rig: Any) -> None:
    day = datetime(2026, 11, 26, tzinfo=KST)
    rig = await sim_rig(start=at(day, 8, 50), speed=60, OBSERVER_MIN_PRICE=10**9, **SETTINGS)
    async with running(rig) as runtime:
        await wait_until(lambda: runtime.status()["universe"]["failed_step"] is not None, 20)
        universe = runtime.status()["universe"]
    assert "step 'price'" in universe["error"]
    assert universe["failed_step"] == "price" and universe["counts"]["price"] == 0
    assert universe["counts"]["types"] > 0
    [failed] = [e for e in events(rig.settings.assets_dir, "universe")]
    assert failed["data"]["action"] == "failed" and failed["data"]["failed_step"] == "price"
    assert failed["data"]["counts"] == universe["counts"]
