"""Every simulator reply has exactly the key set of its published-shape fixture.

The fixtures (tests/kis/data/replies/) are written from KIS_PROTOCOL.md, never from the
simulator, so a simulator field that drifts from the documentation fails here.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from observer.clock import ManualClock
from observer.sim.server import SimServer
from tests.kis.replies import reply, shape
from tests.sim.conftest import MARKET_MORNING
from tests.sim.test_server import KEY, QUOTES, SECRET, _get, _headers, _token
from tests.sim.test_ws_server import _answer, _approval, _request


def keys(value: dict[str, Any]) -> set[str]:
    return set(value)


def envelope_for(msg_cd: str) -> dict[str, Any]:
    [found] = [
        e for e in reply("rest_errors")["envelopes"] if msg_cd in orjson.dumps(e["body"]).decode()
    ]
    body: dict[str, Any] = found["body"]
    return body


async def test_token_and_approval_key(sim: SimServer, http: aiohttp.ClientSession) -> None:
    _, token = await _token(sim, http)
    assert keys(token) == keys(reply("token")["body"])
    body = {"grant_type": "client_credentials", "appkey": KEY, "secretkey": SECRET}
    async with http.post(f"{sim.base_url}/oauth2/Approval", json=body) as answer:
        assert keys(await answer.json()) == keys(reply("approval_key")["body"])


async def test_quotes_and_time_and_sales(sim: SimServer, http: aiohttp.ClientSession) -> None:
    _, token = await _token(sim, http)
    access = token["access_token"]
    code = min(sim.market.issues, key=lambda issue: issue.rank).code
    args = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}
    _, price = await _get(sim, http, "inquire-price", access, "FHKST01010100", **args)
    assert shape(price) == shape(reply("inquire_price")["body"])
    multi_args = {"FID_COND_MRKT_DIV_CODE_1": "J", "FID_INPUT_ISCD_1": code}
    _, multi = await _get(sim, http, "intstock-multprice", access, "FHKST11300006", **multi_args)
    assert shape(multi) == shape(reply("multi_price")["body"])
    fixture = reply("time_itemconclusion")
    async with http.get(
        f"{sim.base_url}{QUOTES}/inquire-time-itemconclusion",
        params={**args, "FID_INPUT_HOUR_1": "093000"},
        headers=_headers(access, "FHPST01060000"),
    ) as answer:
        sales = await answer.json()
        assert answer.headers["tr_cont"] in ("M", "D")
        assert set(answer.headers) >= set(fixture["headers"])
    assert sales["output2"], "the busiest issue has traded by 09:30"
    assert shape(sales) == shape(fixture["body"])


async def test_error_envelopes(make_settings: Any, http: aiohttp.ClientSession) -> None:
    server = SimServer(
        make_settings(sim_issues=20, sim_rate_limit=2), ManualClock(MARKET_MORNING),
        app_keys={KEY: SECRET},
    )  # fmt: skip
    await server.start()
    try:
        code = server.market.issues[0].code
        args = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}
        _, token = await _token(server, http)
        _, throttled = await _token(server, http)
        assert keys(throttled) == keys(envelope_for("EGW00133"))
        access = token["access_token"]
        seen: dict[str, dict[str, Any]] = {}
        for bearer, tr_id in (("not-a-token", "FHKST01010100"), (access, "WRONG000")):
            _, body = await _get(server, http, "inquire-price", bearer, tr_id, **args)
            seen[body["msg_cd"]] = body
        for _ in range(3):
            _, body = await _get(server, http, "inquire-price", access, "FHKST01010100", **args)
            seen[body["msg_cd"]] = body
        headers = {**_headers(access, "FHKST01010100"), "appkey": "fake-unknown-key"}
        async with http.get(
            f"{server.base_url}{QUOTES}/inquire-price", params=args, headers=headers
        ) as answer:
            body = await answer.json()
            seen[body["msg_cd"]] = body
        no_token = {
            k: v for k, v in _headers(access, "FHKST01010100").items() if k != "authorization"
        }
        async with http.get(
            f"{server.base_url}{QUOTES}/inquire-price", params=args, headers=no_token
        ) as answer:
            body = await answer.json()
            seen[body["msg_cd"]] = body
        server.expire_tokens(KEY)
        _, body = await _get(server, http, "inquire-price", access, "FHKST01010100", **args)
        seen[body["msg_cd"]] = body
    finally:
        await server.stop()
    flaky = SimServer(
        make_settings(sim_issues=20, sim_gateway_error_rate=1.0), ManualClock(MARKET_MORNING)
    )
    await flaky.start()
    try:
        _, token = await _token(flaky, http)
        _, body = await _get(
            flaky, http, "inquire-price", token["access_token"], "FHKST01010100", **args
        )
        seen[body["msg_cd"]] = body
    finally:
        await flaky.stop()
    checked = ("EGW00121", "EGW00122", "OPSQ0002", "EGW00201", "EGW00103", "EGW00123", "EGW00300")
    assert set(checked) <= set(seen)
    for msg_cd in checked:
        assert keys(seen[msg_cd]) == keys(envelope_for(msg_cd)), msg_cd


async def test_a_tr_the_simulator_does_not_serve_is_a_kis_envelope(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    _, token = await _token(sim, http)
    async with http.get(
        f"{sim.base_url}{QUOTES}/inquire-ccnl",
        headers=_headers(token["access_token"], "FHKST01010300"),
    ) as answer:
        body = await answer.json(content_type=None)
    assert keys(body) == keys(envelope_for("OPSQ0002"))
    assert body["rt_cd"] != "0" and body["msg_cd"] == "OPSQ0002"


def _control_shape(message: dict[str, Any]) -> Any:
    return shape(message)


@pytest.mark.parametrize(
    ("fixture", "steps"),
    [
        ("ws_subscribed", ["sub"]),
        ("ws_already_subscribed", ["sub", "sub"]),
        ("ws_unsubscribed", ["sub", "unsub"]),
        ("ws_unsubscribe_not_found", ["unsub"]),
        ("ws_invalid_tr_id", ["bad_tr_id"]),
        ("ws_invalid_tr_key", ["bad_tr_key"]),
        ("ws_invalid_approval_null", ["bad_approval"]),
        ("ws_bad_json_null", ["bad_json"]),
    ],
)
async def test_control_answers(
    sim: SimServer, http: aiohttp.ClientSession, fixture: str, steps: list[str]
) -> None:
    approval = await _approval(sim, http)
    code = sim.market.issues[0].code
    texts = {
        "sub": _request(approval, "H0STCNT0", code),
        "unsub": _request(approval, "H0STCNT0", code, "2"),
        "bad_tr_id": _request(approval, "H0XXXXX0", code),
        "bad_tr_key": _request(approval, "H0STCNT0", "12"),
        "bad_approval": _request("fake-unknown-approval", "H0STCNT0", code),
        "bad_json": "{broken",
    }
    async with http.ws_connect(f"{sim.ws_url}/tryitout") as ws:
        for step in steps:
            await ws.send_str(texts[step])
            answer = await _answer(ws)
    expected = reply(fixture)["message"]
    assert shape(answer) == shape(expected)
    assert answer["body"]["msg_cd"] == expected["body"]["msg_cd"]
    if expected["header"]["tr_id"] == "(null)":
        assert answer["header"]["tr_id"] == "(null)" and answer["body"]["rt_cd"] == "9"


async def test_max_registrations_in_use_pingpong_and_frames(
    make_settings: Any, http: aiohttp.ClientSession
) -> None:
    from observer.clock import Clock

    settings = make_settings(sim_issues=60, sim_activity=0.3, sim_pingpong_seconds=1)
    sim = SimServer(settings, Clock(MARKET_MORNING, speed=10.0))
    await sim.start()
    try:
        approval = await _approval(sim, http)
        codes = [issue.code for issue in sorted(sim.market.issues, key=lambda i: i.rank)]
        async with http.ws_connect(f"{sim.ws_url}/tryitout") as ws:
            for code in codes[:41]:
                await ws.send_str(_request(approval, "H0STCNT0", code))
                await _answer(ws)
            await ws.send_str(_request(approval, "H0STASP0", codes[0]))
            limit = await _answer(ws)
            async with http.ws_connect(f"{sim.ws_url}/tryitout") as second:
                await second.send_str(_request(approval, "H0STCNT0", codes[50]))
                in_use = await _answer(second)
            ping, frame = None, None
            while ping is None or frame is None:
                message = await ws.receive(timeout=10)
                text = message.data
                if text.startswith("{"):
                    obj = orjson.loads(text)
                    if obj["header"]["tr_id"] == "PINGPONG":
                        ping = obj
                elif text.startswith("0|H0STCNT0|"):
                    frame = text
    finally:
        await sim.stop()
    assert shape(limit) == shape(reply("ws_max_registrations")["message"])
    assert shape(in_use) == shape(reply("ws_app_key_in_use_null")["message"])
    assert in_use["header"]["tr_id"] == "(null)" and in_use["body"]["rt_cd"] == "9"
    assert shape(ping) == shape(reply("ws_pingpong")["message"])
    _, _, count, payload = frame.split("|", 3)
    expected = reply("ws_trade_frame")["expect"]["fields_per_record"]
    assert len(payload.split("^")) == int(count) * expected
