"""KisWebSocketSession against the simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from observer.clock import KST, Clock
from observer.config.redact import Redactor
from observer.kis.account import KisAccount
from observer.kis.exceptions import AppKeyInUseError, RegistrationLimitError
from observer.kis.frames import DataMessage
from observer.kis.ws import BACKOFF_FIRST_S, BACKOFF_MAX_S, KisWebSocketSession, WsData, WsEvent
from observer.metrics import Metrics
from observer.sim.server import SimServer
from tests.store.proxy import CuttableProxy
from tests.waiting import wait_until

MORNING = datetime(2026, 11, 26, 9, 30, tzinfo=KST)
KEY = "fake-app-key"
Item = WsData | WsEvent
SPEED = 20.0


class Harness:
    """A simulator plus sessions against it; everything is stopped at the end."""

    def __init__(self, make_settings: Any, http: aiohttp.ClientSession) -> None:
        self.make_settings = make_settings
        self.http = http
        self.clock = Clock(MORNING, speed=SPEED)
        self.server: SimServer | None = None
        self.ws_url = ""  # where sessions connect (default: the simulator itself)
        self.tasks: list[tuple[KisWebSocketSession, asyncio.Task[None]]] = []

    async def start(self, **overrides: Any) -> SimServer:
        settings = self.make_settings(sim_issues=60, sim_activity=0.3, **overrides)
        self.server = SimServer(settings, self.clock)
        await self.server.start()
        return self.server

    def session(
        self,
        *,
        name: str = "s1",
        silence: float = 600.0,
        market_hours: Callable[[], bool] = lambda: True,
        queue_max: int = 10_000,
    ) -> tuple[KisWebSocketSession, asyncio.Queue[Item]]:
        assert self.server is not None
        settings = self.make_settings(
            KIS_BASE_URL=self.server.base_url, KIS_WS_URL=self.server.ws_url,
            KIS_RATE_LIMIT_PER_SECOND=1000,
        )  # fmt: skip
        account = KisAccount(
            settings, KEY, "fake-app-secret", self.clock, Metrics(), Redactor(), self.http
        )
        out: asyncio.Queue[Item] = asyncio.Queue(maxsize=queue_max)
        session = KisWebSocketSession(
            self.ws_url or self.server.ws_url, account, self.clock, Metrics(), name=name,
            silence_seconds=silence, market_hours=market_hours, out=out,
            # the backoff counts real seconds: divided by the clock's speed, these sessions keep
            # the service's 1 s to 30 s in clock time, as at speed 1
            backoff_first_s=BACKOFF_FIRST_S / SPEED, backoff_max_s=BACKOFF_MAX_S / SPEED,
        )  # fmt: skip
        self.tasks.append((session, asyncio.create_task(session.run())))
        return session, out

    async def restart(self) -> SimServer:
        """A new simulator process on the same port: it knows none of the old keys."""
        assert self.server is not None
        port, settings = self.server.port, self.server.settings
        await self.server.stop()
        self.server = SimServer(settings, self.clock)
        await self.server.start("127.0.0.1", port)
        return self.server

    async def close(self) -> None:
        for session, task in self.tasks:
            await session.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        if self.server is not None:
            await self.server.stop()

    def busiest(self, n: int = 1) -> list[str]:
        assert self.server is not None
        return [i.code for i in sorted(self.server.market.issues, key=lambda i: i.rank)[:n]]


@pytest.fixture
async def harness(make_settings: Any) -> AsyncIterator[Harness]:
    async with aiohttp.ClientSession() as http:
        rig = Harness(make_settings, http)
        yield rig
        await rig.close()


async def event(out: asyncio.Queue[Item], kind: str, data: list[WsData] | None = None) -> WsEvent:
    """The next event of ``kind`` (data met on the way is kept in ``data``)."""
    async with asyncio.timeout(15):
        while True:
            item = await out.get()
            if isinstance(item, WsEvent) and item.kind == kind:
                return item
            if isinstance(item, WsData) and data is not None:
                data.append(item)


async def records(out: asyncio.Queue[Item], wanted: int) -> list[DataMessage]:
    """Data messages until ``wanted`` records have arrived."""
    messages: list[DataMessage] = []
    total = 0
    async with asyncio.timeout(15):
        while total < wanted:
            item = await out.get()
            if isinstance(item, WsData):
                assert isinstance(item.message, DataMessage), item.message
                messages.append(item.message)
                total += len(item.message.records)
    return messages


async def test_every_record_of_multi_record_frames_with_exact_volumes(harness: Harness) -> None:
    await harness.start()
    session, out = harness.session()
    await event(out, "connected")
    (code,) = harness.busiest()
    await session.register("H0STCNT0", code)
    assert session.registered == {("H0STCNT0", code)}
    messages = await records(out, 400)
    assert any(m.count > 1 for m in messages)
    previous = None
    for message in messages:
        assert not message.rejects
        assert len(message.records) == message.count
        for record in message.records:
            assert record.symbol == code
            volume = record.data["acc_volume"]
            if previous is not None:
                assert volume == previous + record.data["trade_volume"]
            previous = volume


async def test_pingpong_is_echoed_unchanged(harness: Harness) -> None:
    server = await harness.start(sim_pingpong_seconds=2)
    harness.session()
    await wait_until(lambda: server.ws.counters["pongs_exact"] >= 3, 15)
    assert server.ws.counters["pongs"] == server.ws.counters["pongs_exact"]


async def test_frames_with_a_47th_field_are_parsed(harness: Harness) -> None:
    await harness.start(sim_extra_field=True)
    session, out = harness.session()
    await event(out, "connected")
    await session.register("H0STCNT0", harness.busiest()[0])
    messages = await records(out, 50)
    for message in messages:
        assert not message.rejects
        for record in message.records:
            assert len(record.raw.split("^")) == 47
            assert record.data["acc_volume"] > 0


async def test_the_42nd_registration_is_refused(harness: Harness) -> None:
    server = await harness.start()
    session, out = harness.session()
    await event(out, "connected")
    codes = [issue.code for issue in server.market.issues[:42]]
    for code in codes[:41]:
        await session.register("H0STCNT0", code)
    assert len(session.registered) == 41
    with pytest.raises(RegistrationLimitError):
        await session.register("H0STCNT0", codes[41])
    assert len(session.registered) == 41


async def test_a_second_session_of_one_app_key_is_fatal(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.start()
    first, first_out = harness.session(name="first")
    await event(first_out, "connected")
    code = harness.busiest()[0]
    await first.register("H0STCNT0", code)
    second, second_out = harness.session(name="second")
    await event(second_out, "connected")
    with pytest.raises(AppKeyInUseError):
        await second.register("H0STCNT0", code)
    fatal = await event(second_out, "fatal")
    assert "in use" in fatal.reason
    task = harness.tasks[1][1]
    await asyncio.wait_for(task, 10)  # run() ends: no reconnect storm
    assert first.registered == {("H0STCNT0", code)}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "OPSP8996" in errors[0] and "in use" in errors[0]


async def test_a_dropped_connection_comes_back_with_every_registration(harness: Harness) -> None:
    server = await harness.start()
    session, out = harness.session()
    await event(out, "connected")
    codes = harness.busiest(3)
    wanted = {("H0STCNT0", c) for c in codes} | {("H0STASP0", codes[0])}
    for tr_id, code in sorted(wanted):
        await session.register(tr_id, code)
    assert await server.drop_connections() == 1
    await event(out, "disconnected")
    await event(out, "connected")
    restored = await event(out, "reregistered")
    assert "4 of 4" in restored.reason
    assert session.registered == wanted
    conns = list(server.ws.connections)
    assert len(conns) == 1 and conns[0].registrations == wanted
    assert await records(out, 20)


async def test_silence_forces_a_reconnect_during_market_hours(harness: Harness) -> None:
    await harness.start(sim_pingpong_seconds=10_000)
    _session, out = harness.session(silence=4.0)
    await event(out, "connected")
    gone = await event(out, "disconnected")
    assert "silence" in gone.reason
    await event(out, "connected")


async def test_silence_is_ignored_outside_market_hours(harness: Harness) -> None:
    await harness.start(sim_pingpong_seconds=10_000)
    asked = 0

    def closed_market() -> bool:
        nonlocal asked
        asked += 1
        return False

    _session, out = harness.session(silence=1.0, market_hours=closed_market)
    await event(out, "connected")
    await wait_until(lambda: asked >= 3, 15)
    while not out.empty():
        item = out.get_nowait()
        assert not (isinstance(item, WsEvent) and item.kind == "disconnected")


async def test_a_restarted_server_is_reached_again_with_a_fresh_approval_key(
    harness: Harness,
) -> None:
    await harness.start()
    session, out = harness.session()
    await event(out, "connected")
    code = harness.busiest()[0]
    await session.register("H0STCNT0", code)
    server = await harness.restart()
    await event(out, "disconnected")
    async with asyncio.timeout(15):
        while True:
            restored = await event(out, "reregistered")
            if restored.reason.startswith("1 of 1"):
                break
    assert session.registered == {("H0STCNT0", code)}
    assert server.ws.answers["OPSP0011"] >= 1  # the old approval key, then a new one
    assert server.counters()["approvals_issued"] == {KEY: 1}
    assert await records(out, 10)


async def test_session_metrics(harness: Harness) -> None:
    server = await harness.start()
    session, out = harness.session(name="m1")
    await event(out, "connected")
    codes = harness.busiest(2)
    for code in codes:
        await session.register("H0STCNT0", code)
    await records(out, 10)
    registry = session.metrics.registry
    labels = {"session": "m1"}
    assert registry.get_sample_value("observer_ws_connected", labels) == 1
    assert registry.get_sample_value("observer_ws_registrations", labels) == 2
    assert registry.get_sample_value("observer_ws_frames_total", {"tr_id": "H0STCNT0"}) >= 1
    assert registry.get_sample_value("observer_ws_last_message_timestamp_seconds", labels) > 0
    await server.drop_connections()
    await event(out, "reregistered")
    assert registry.get_sample_value("observer_ws_reconnects_total", labels) == 1


async def _through_proxy(harness: Harness) -> tuple[CuttableProxy, SimServer]:
    server = await harness.start()
    proxy = CuttableProxy("127.0.0.1", server.port)
    await proxy.start()
    harness.ws_url = f"ws://127.0.0.1:{proxy.port}"
    return proxy, server


async def test_a_vanished_peer_is_reached_again_with_every_registration(
    harness: Harness,
) -> None:
    proxy, _server = await _through_proxy(harness)
    try:
        session, out = harness.session()
        await event(out, "connected")
        codes = harness.busiest(2)
        for code in codes:
            await session.register("H0STCNT0", code)
        assert await records(out, 20)
        await proxy.cut()  # no close frame: the connection just dies
        await event(out, "disconnected")
        await event(out, "disconnected")  # refused while the proxy is down: it keeps trying
        await proxy.restore()
        restored = await event(out, "reregistered")
        assert restored.reason.startswith("2 of 2")
        assert session.registered == {("H0STCNT0", c) for c in codes}
        assert await records(out, 20)
    finally:
        await proxy.stop()


async def test_our_own_stale_session_after_a_reconnect_is_retried_not_fatal(
    harness: Harness,
) -> None:
    proxy, server = await _through_proxy(harness)
    try:
        session, out = harness.session()
        await event(out, "connected")
        codes = harness.busiest(3)
        for code in codes:
            await session.register("H0STCNT0", code)
        await proxy.cut()
        await event(out, "disconnected")
        await wait_until(lambda: not server.ws.connections, 15)
        approval = await session.account.approval_key()
        request = {
            "header": {"approval_key": approval, "custtype": "P", "tr_type": "1"},
            "body": {"input": {"tr_id": "H0STCNT0", "tr_key": codes[0]}},
        }
        async with harness.http.ws_connect(f"{server.ws_url}/tryitout") as holder:
            await holder.send_json(request)  # the key is now held elsewhere
            await wait_until(lambda: server.ws.answers["OPSP0000"] >= 4, 15)
            await proxy.restore()
            # answered in the real service's "(null)" shape, naming no request
            await wait_until(lambda: server.ws.answers["OPSP8996"] >= 1, 15)
        restored = await event(out, "reregistered")
        assert restored.reason.startswith("3 of 3")
        assert session.fatal is None
        assert session.registered == {("H0STCNT0", c) for c in codes}
    finally:
        await proxy.stop()


async def test_registrations_made_before_connecting_and_unregistering(harness: Harness) -> None:
    server = await harness.start()
    session, out = harness.session()
    codes = harness.busiest(2)
    for code in codes:  # not connected yet: kept and sent on connect
        await session.register("H0STCNT0", code)
    await event(out, "connected")
    wanted = {("H0STCNT0", c) for c in codes}
    await wait_until(lambda: session.registered == wanted, 15)
    await session.unregister("H0STCNT0", codes[0])
    assert session.registered == {("H0STCNT0", codes[1])}
    assert session.desired == {("H0STCNT0", codes[1])}
    (conn,) = server.ws.connections
    assert conn.registrations == {("H0STCNT0", codes[1])}
    assert server.ws.answers["OPSP0001"] == 1


async def test_a_full_queue_makes_the_session_wait_not_drop(harness: Harness) -> None:
    """The consumer stalls with a queue of 2: every trade still arrives, volumes continuous."""
    await harness.start()
    session, out = harness.session(queue_max=2)
    await event(out, "connected")
    (code,) = harness.busiest()
    await session.register("H0STCNT0", code)
    await wait_until(lambda: out.full(), 15)
    await asyncio.sleep(0.5)  # the stalled consumer: frames keep coming and must wait
    previous = None
    for message in await records(out, 300):
        for record in message.records:
            volume = record.data["acc_volume"]
            if previous is not None:
                assert volume == previous + record.data["trade_volume"]  # nothing skipped
            previous = volume
    drained: list[Item] = []
    reader = asyncio.create_task(_drain(out, drained))  # the session must be able to stop
    await session.stop()
    reader.cancel()
    await asyncio.wait({reader})


async def _drain(out: asyncio.Queue[Item], into: list[Item]) -> None:
    while True:
        into.append(await out.get())
