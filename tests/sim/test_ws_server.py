"""The simulator's /tryitout WebSocket, spoken to with a bare aiohttp client."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from observer.kis.frames import ControlMessage, DataMessage, PingPong, parse_message
from observer.sim.server import SimServer


async def _approval(sim: SimServer, http: aiohttp.ClientSession, key: str = "fake-app-key") -> str:
    body = {"grant_type": "client_credentials", "appkey": key, "secretkey": "fake-secret"}
    async with http.post(f"{sim.base_url}/oauth2/Approval", json=body) as answer:
        return str((await answer.json())["approval_key"])


def _request(approval: str, tr_id: str, tr_key: str, tr_type: str = "1") -> str:
    header = {
        "approval_key": approval,
        "custtype": "P",
        "tr_type": tr_type,
        "content-type": "utf-8",
    }
    body = {"input": {"tr_id": tr_id, "tr_key": tr_key}}
    return orjson.dumps({"header": header, "body": body}).decode()


async def _answer(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next control answer (data frames and PINGPONG skipped)."""
    while True:
        message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT
        if message.data.startswith("{"):
            obj: dict[str, Any] = orjson.loads(message.data)
            if obj["header"]["tr_id"] != "PINGPONG":
                return obj


async def test_every_opsp_answer(sim: SimServer, http: aiohttp.ClientSession) -> None:
    approval = await _approval(sim, http)
    codes = [issue.code for issue in sim.market.issues]
    async with http.ws_connect(f"{sim.ws_url}/tryitout") as ws:

        async def ask(text: str) -> str:
            await ws.send_str(text)
            return str((await _answer(ws))["body"]["msg_cd"])

        assert await ask("{broken") == "OPSP9999"
        assert await ask(_request("fake-unknown-approval", "H0STCNT0", codes[0])) == "OPSP0011"
        assert await ask(_request(approval, "H0XXXXX0", codes[0])) == "OPSP8991"
        assert await ask(_request(approval, "H0STCNT0", "12")) == "OPSP8992"
        assert await ask(_request(approval, "H0STCNT0", codes[0])) == "OPSP0000"
        assert await ask(_request(approval, "H0STCNT0", codes[0])) == "OPSP0002"
        assert await ask(_request(approval, "H0STCNT0", codes[0], "2")) == "OPSP0001"
        assert await ask(_request(approval, "H0STCNT0", codes[0], "2")) == "OPSP0003"
        for code in codes[:41]:
            assert await ask(_request(approval, "H0STCNT0", code)) == "OPSP0000"
        assert await ask(_request(approval, "H0STASP0", codes[0])) == "OPSP0008"
        async with http.ws_connect(f"{sim.ws_url}/tryitout") as second:
            await second.send_str(_request(approval, "H0STCNT0", codes[50]))
            refusal = await _answer(second)
            # the real service's shape: the refusal names no request
            assert refusal["header"]["tr_id"] == "(null)" and not refusal["header"]["tr_key"]
            assert refusal["body"]["rt_cd"] == "9" and refusal["body"]["msg_cd"] == "OPSP8996"
    answers = sim.counters()["ws"]["answers"]
    assert answers["OPSP0008"] == 1 and answers["OPSP8996"] == 1


async def test_trade_and_book_frames_for_registered_symbols(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    approval = await _approval(sim, http)
    code = min(sim.market.issues, key=lambda issue: issue.rank).code
    async with http.ws_connect(f"{sim.ws_url}/tryitout") as ws:
        await ws.send_str(_request(approval, "H0STCNT0", code))
        await ws.send_str(_request(approval, "H0STASP0", code))
        seen: dict[str, int] = {}
        while len(seen) < 2:
            message = await ws.receive(timeout=10)
            text = message.data
            if text.startswith("0|"):
                _enc, tr_id, count, payload = text.split("|", 3)
                fields = payload.split("^")
                width = 46 if tr_id == "H0STCNT0" else 59
                assert len(fields) == int(count) * width
                assert fields[0] == code
                seen[tr_id] = seen.get(tr_id, 0) + 1
    assert set(seen) == {"H0STCNT0", "H0STASP0"}


async def _fault_server(make_settings: Any, **overrides: Any) -> SimServer:
    from observer.clock import Clock
    from tests.sim.conftest import MARKET_MORNING

    settings = make_settings(sim_issues=30, **overrides)
    server = SimServer(settings, Clock(MARKET_MORNING, speed=20))
    await server.start()
    return server


async def test_garbage_frames_are_mixed_in(make_settings: Any, http: aiohttp.ClientSession) -> None:
    server = await _fault_server(make_settings, sim_garbage_rate=0.5)
    try:
        approval = await _approval(server, http)
        code = min(server.market.issues, key=lambda issue: issue.rank).code
        good = garbage = 0
        async with http.ws_connect(f"{server.ws_url}/tryitout") as ws:
            await ws.send_str(_request(approval, "H0STCNT0", code))
            while good < 40:
                message = parse_message((await ws.receive(timeout=10)).data, 0)
                if isinstance(message, DataMessage) and not message.rejects:
                    good += 1
                elif not isinstance(message, ControlMessage | PingPong):
                    garbage += 1
        assert garbage > 0
        assert server.counters()["ws"]["counters"]["garbage"] >= garbage
    finally:
        await server.stop()


async def test_every_connection_is_dropped_every_n_seconds(
    make_settings: Any, http: aiohttp.ClientSession
) -> None:
    server = await _fault_server(make_settings, sim_drop_ws_seconds=2)
    try:
        async with http.ws_connect(f"{server.ws_url}/tryitout") as ws:
            message = await ws.receive(timeout=10)
            while message.type == aiohttp.WSMsgType.TEXT:  # PINGPONG until the drop
                message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert server.counters()["ws"]["counters"]["drops"] >= 1
    finally:
        await server.stop()
