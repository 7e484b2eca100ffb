"""A client no one here wrote against ``observer sim``: python-kis over loopback.

python-kis takes its REST and WebSocket hosts from module constants (``pykis.kis.REAL_DOMAIN``,
``pykis.client.websocket.WEBSOCKET_REAL_DOMAIN``); the test points them at the simulator, so
nothing leaves the machine. It obtains a token, reads a quote with its inquire-price call
(which fails on a missing published field) and receives real-time trades through its own
WebSocket client. python-kis is synchronous (requests, websocket-client threads): its calls run
in worker threads while the simulator serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import pytest

from observer.sim.server import SimServer

APP_KEY = "F" * 36  # python-kis checks the lengths of real keys: 36 and 180 characters
APP_SECRET = "S" * 180


def _client(monkeypatch: pytest.MonkeyPatch, sim: SimServer) -> Any:
    import pykis.client.websocket
    import pykis.kis

    monkeypatch.setattr(pykis.kis, "REAL_DOMAIN", sim.base_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_REAL_DOMAIN", sim.ws_url)
    return pykis.PyKis(
        id="fake-user", account="00000000-01", appkey=APP_KEY, secretkey=APP_SECRET,
        keep_token=False,
    )  # fmt: skip


async def test_python_kis_token_quote_and_real_time_trades(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pykis.api.stock.quote import quote
    from pykis.scope.stock import KisStockScope

    issue = min(sim.market.issues, key=lambda i: i.rank)
    kis = await asyncio.to_thread(_client, monkeypatch, sim)
    got = await asyncio.to_thread(quote, kis, issue.code, "KRX")
    state = sim.market.state(issue.code)
    assert sim.auth.tokens_issued[APP_KEY] == 1
    assert got.symbol == issue.code and got.price > 0
    assert got.base_price == Decimal(state.base) and got.volume > 0
    assert got.market_cap > 0  # hts_avls: the field whose absence broke this client

    trades: list[Any] = []
    enough = threading.Event()

    def on_trade(_client: Any, event: Any) -> None:
        trades.append(event.response)
        if len(trades) >= 5:
            enough.set()

    scope = KisStockScope(kis, "KRX", issue.code, kis.primary)
    ticket = await asyncio.to_thread(scope.on, "price", on_trade)
    try:
        assert await asyncio.to_thread(enough.wait, 20), "no trades through python-kis"
    finally:
        await asyncio.to_thread(ticket.unsubscribe)
        await asyncio.to_thread(kis.websocket.disconnect)
    assert sim.counters()["approvals_issued"][APP_KEY] >= 1
    assert all(t.symbol == issue.code and t.price > 0 for t in trades)
    volumes = [int(t.volume) for t in trades]
    assert volumes == sorted(volumes)  # cumulative volume, in order
