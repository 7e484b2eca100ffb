"""The simulator's REST side over real loopback sockets."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import aiohttp
import pytest

from observer.clock import Clock
from observer.kis.master import read_master_zip
from observer.sim.server import SimServer

KEY = "fake-app-key"
SECRET = "fake-app-secret"
QUOTES = "/uapi/domestic-stock/v1/quotations"


async def _token(sim: SimServer, http: aiohttp.ClientSession, key: str = KEY) -> tuple[int, Any]:
    body = {"grant_type": "client_credentials", "appkey": key, "appsecret": SECRET}
    async with http.post(f"{sim.base_url}/oauth2/tokenP", json=body) as answer:
        return answer.status, await answer.json()


def _headers(token: str, tr_id: str, key: str = KEY) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}",
        "appkey": key,
        "appsecret": SECRET,
        "tr_id": tr_id,
        "custtype": "P",
    }


async def _get(
    sim: SimServer, http: aiohttp.ClientSession, path: str, token: str, tr_id: str, **query: str
) -> tuple[int, Any]:
    async with http.get(
        f"{sim.base_url}{QUOTES}/{path}", params=query, headers=_headers(token, tr_id)
    ) as answer:
        return answer.status, await answer.json()


async def test_token_once_a_minute_per_app_key(sim: SimServer, http: aiohttp.ClientSession) -> None:
    status, first = await _token(sim, http)
    assert status == 200
    assert first["token_type"] == "Bearer" and first["expires_in"] == 86400
    assert len(first["access_token_token_expired"]) == 19  # "YYYY-MM-DD HH:MM:SS" KST
    status, again = await _token(sim, http)
    assert status == 403
    assert again == {"error_code": "EGW00133", "error_description": again["error_description"]}
    status, _other = await _token(sim, http, key="fake-other-key")
    assert status == 200
    assert sim.counters()["tokens_issued"] == {KEY: 1, "fake-other-key": 1}


async def test_quotes_agree_and_multi_price_takes_thirty(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    _, token = await _token(sim, http)
    codes = [issue.code for issue in sim.market.issues[:30]]
    query = {"FID_COND_MRKT_DIV_CODE_1": "J"}
    query.update({f"FID_INPUT_ISCD_{n}": code for n, code in enumerate(codes, 1)})
    status, multi = await _get(
        sim, http, "intstock-multprice", token["access_token"], "FHKST11300006", **query
    )
    assert status == 200 and multi["rt_cd"] == "0"
    assert [row["inter_shrn_iscd"] for row in multi["output"]] == codes
    row = multi["output"][0]
    state = sim.market.issue(codes[0])
    assert row["inter_kor_isnm"] == state.name
    status, single = await _get(
        sim, http, "inquire-price", token["access_token"], "FHKST01010100",
        FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD=codes[0],
    )  # fmt: skip
    out = single["output"]
    assert int(out["acml_vol"]) >= int(row["acml_vol"])
    assert int(out["stck_llam"]) <= int(out["stck_prpr"]) <= int(out["stck_mxpr"])
    assert out["stck_sdpr"] == row["inter2_sdpr"]


async def test_token_errors_and_wrong_tr_id(sim: SimServer, http: aiohttp.ClientSession) -> None:
    _, token = await _token(sim, http)
    code = sim.market.issues[0].code
    args = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}
    status, body = await _get(sim, http, "inquire-price", "not-a-token", "FHKST01010100", **args)
    assert (status, body["msg_cd"]) == (500, "EGW00121")
    status, body = await _get(sim, http, "inquire-price", token["access_token"], "WRONG", **args)
    assert body["rt_cd"] != "0"
    assert sim.expire_tokens(KEY) == 1
    status, body = await _get(
        sim, http, "inquire-price", token["access_token"], "FHKST01010100", **args
    )
    assert (status, body["msg_cd"]) == (500, "EGW00123")


async def test_per_second_limit_answers_egw00201(
    make_settings: Any, http: aiohttp.ClientSession
) -> None:
    from observer.clock import ManualClock
    from tests.sim.conftest import MARKET_MORNING

    server = SimServer(make_settings(sim_issues=20, sim_rate_limit=5), ManualClock(MARKET_MORNING))
    await server.start()
    try:
        _, token = await _token(server, http)
        code = server.market.issues[0].code
        answers = [
            await _get(
                server, http, "inquire-price", token["access_token"], "FHKST01010100",
                FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD=code,
            )
            for _ in range(8)
        ]  # fmt: skip
    finally:
        await server.stop()
    codes = [body["msg_cd"] for _status, body in answers]
    assert codes[:5] == ["MCA00000"] * 5
    assert codes[5:] == ["EGW00201"] * 3
    assert {status for status, _ in answers[5:]} == {500}
    assert server.counters()["rate_limited"] == {KEY: 3}


async def test_master_zips_are_cp949_with_exact_tail_widths(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    found = 0
    for name, market, width in (("kospi", "KOSPI", 227), ("kosdaq", "KOSDAQ", 221)):
        async with http.get(f"{sim.master_url}/{name}_code.mst.zip") as answer:
            assert answer.status == 200
            data = await answer.read()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            text = archive.read(archive.namelist()[0])
        lines = text.decode("cp949").splitlines()
        expected = [i for i in sim.market.issues if i.market == market]
        assert len(lines) == len(expected)
        for line, issue in zip(lines, expected, strict=True):
            assert line[:9].strip() == issue.code
            assert line[21:-width].strip() == issue.name
            assert line[-width:][:2] == issue.group_code
        parsed = read_master_zip(data, market)  # type: ignore[arg-type]
        assert not parsed.rejects
        assert [i.code for i in parsed.issues] == [i.code for i in expected]
        found += len(parsed.issues)
    assert found == len(sim.market.issues)


async def test_holiday_check_and_daily_prices(sim: SimServer, http: aiohttp.ClientSession) -> None:
    _, token = await _token(sim, http)
    _status, body = await _get(
        sim, http, "chk-holiday", token["access_token"], "CTCA0903R", BASS_DT="20261225"
    )
    days = {row["bass_dt"]: row["opnd_yn"] for row in body["output"]}
    assert days["20261225"] == "N" and days["20261226"] == "N" and days["20261228"] == "Y"
    code = sim.market.issues[0].code
    _status, body = await _get(
        sim, http, "inquire-daily-price", token["access_token"], "FHKST01010400",
        FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD=code, FID_PERIOD_DIV_CODE="D",
        FID_ORG_ADJ_PRC="0",
    )  # fmt: skip
    rows = body["output"]
    assert rows[0]["stck_bsop_date"] == "20261126"
    assert len(rows) == 30
    assert all(int(r["stck_lwpr"]) <= int(r["stck_clpr"]) <= int(r["stck_hgpr"]) for r in rows[1:])


async def test_gateway_error_bursts(make_settings: Any, http: aiohttp.ClientSession) -> None:
    from observer.clock import ManualClock
    from tests.sim.conftest import MARKET_MORNING

    settings = make_settings(sim_issues=20, sim_gateway_error_rate=1.0, sim_rate_limit=1000)
    server = SimServer(settings, ManualClock(MARKET_MORNING))
    await server.start()
    try:
        _, token = await _token(server, http)
        code = server.market.issues[0].code
        status, body = await _get(
            server, http, "inquire-price", token["access_token"], "FHKST01010100",
            FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD=code,
        )  # fmt: skip
    finally:
        await server.stop()
    assert (status, body["msg_cd"]) == (500, "EGW00300")
    assert server.counters()["gateway_errors"] == 1


async def test_slow_answers_make_short_timeouts_expire(
    make_settings: Any, http: aiohttp.ClientSession
) -> None:
    from observer.clock import ManualClock
    from tests.sim.conftest import MARKET_MORNING

    server = SimServer(make_settings(sim_issues=20, sim_slow_ms=500), ManualClock(MARKET_MORNING))
    await server.start()
    try:
        body = {"grant_type": "client_credentials", "appkey": KEY, "appsecret": SECRET}
        quick = aiohttp.ClientTimeout(total=0.05)
        with pytest.raises(TimeoutError):
            async with http.post(f"{server.base_url}/oauth2/tokenP", json=body, timeout=quick):
                pass
    finally:
        await server.stop()
    assert server.counters()["requests"]["tokenP"] == 1


async def test_a_token_outlives_a_simulator_restart_like_a_kis_token(
    make_settings: Any, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(OBSERVER_SIM_ISSUES="50")
    first = SimServer(settings, Clock())
    await first.start()
    try:
        _, token = await _token(first, http)
        code = first.market.issues[0].code
    finally:
        await first.stop()
    second = SimServer(settings, Clock())
    await second.start()
    args = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}
    try:
        access = token["access_token"]
        status, body = await _get(second, http, "inquire-price", access, "FHKST01010100", **args)
        assert (status, body["rt_cd"]) == (200, "0")
        forged = access[:-4] + ("0000" if not access.endswith("0000") else "1111")
        status, body = await _get(second, http, "inquire-price", forged, "FHKST01010100", **args)
        assert body["msg_cd"] == "EGW00121"
        second.auth.revoke(access)
        status, body = await _get(second, http, "inquire-price", access, "FHKST01010100", **args)
        assert body["msg_cd"] == "EGW00121"
    finally:
        await second.stop()
    other_seed = SimServer(make_settings(OBSERVER_SIM_ISSUES="50", OBSERVER_SIM_SEED="2"), Clock())
    await other_seed.start()
    try:
        status, body = await _get(
            other_seed, http, "inquire-price", access, "FHKST01010100", **args
        )
        assert body["msg_cd"] == "EGW00121"  # another simulated KIS never signed it
    finally:
        await other_seed.stop()
