"""The simulator's REST side: OAuth endpoints, quotations, the holiday check, master files."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from observer.kis.master import MasterIssue, build_master_zip
from observer.sim.auth import Refusal, SimAuth, envelope_error
from observer.sim.issues import SimIssue
from observer.sim.market import SimMarket
from observer.sim.time_sales import TimeSalesDesk
from observer.sim.wire import daily_item, multi_price_item, price_output

log = logging.getLogger(__name__)

QUOTATIONS = "/uapi/domestic-stock/v1/quotations"
# path -> the tr_id it requires
TR_IDS = {
    f"{QUOTATIONS}/inquire-price": "FHKST01010100",
    f"{QUOTATIONS}/intstock-multprice": "FHKST11300006",
    f"{QUOTATIONS}/inquire-daily-price": "FHKST01010400",
    f"{QUOTATIONS}/chk-holiday": "CTCA0903R",
    f"{QUOTATIONS}/inquire-time-itemconclusion": "FHPST01060000",
}
NOT_SERVED = "OPSQ0002"  # the answer for a path the simulator does not serve, as an envelope
MULTI_MAX = 30
DAILY_ROWS = 30
HOLIDAY_ROWS = 15
OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}
NO_DATA = {"rt_cd": "7", "msg_cd": "KIOK0560", "msg1": "조회할 자료가 없습니다"}
MASTER_MARKETS = {"kospi_code.mst.zip": "KOSPI", "kosdaq_code.mst.zip": "KOSDAQ"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Answer = dict[str, Any] | tuple[dict[str, Any], str]  # a body, or (body, tr_cont header)


def json_response(
    body: dict[str, Any], status: int = 200, tr_id: str = "", tr_cont: str = "D"
) -> web.Response:
    headers = {"tr_id": tr_id, "tr_cont": tr_cont} if tr_id else {}
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def refusal_response(refusal: Refusal, tr_id: str = "") -> web.Response:
    return json_response(refusal.body, refusal.status, tr_id)


class SimRest:
    """aiohttp handlers of every REST path the simulator serves."""

    def __init__(self, market: SimMarket, auth: SimAuth, *, slow_ms: int = 0) -> None:
        self.market = market
        self.auth = auth
        self.slow_ms = slow_ms
        self.requests: Counter[str] = Counter()
        self._masters: dict[tuple[str, date], bytes] = {}
        self.time_sales = TimeSalesDesk(market)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/oauth2/tokenP", self.token),
            web.post("/oauth2/revokeP", self.revoke),
            web.post("/oauth2/Approval", self.approval),
            web.get(f"{QUOTATIONS}/inquire-price", self._api(self.inquire_price)),
            web.get(f"{QUOTATIONS}/intstock-multprice", self._api(self.multi_price)),
            web.get(f"{QUOTATIONS}/inquire-daily-price", self._api(self.daily_price)),
            web.get(f"{QUOTATIONS}/chk-holiday", self._api(self.check_holiday)),
            web.get(
                f"{QUOTATIONS}/inquire-time-itemconclusion", self._api(self.time_itemconclusion)
            ),
            web.get("/master/{name}", self.master),
            web.route("*", "/uapi/{tail:.*}", self.not_served),
        ]

    async def not_served(self, request: web.Request) -> web.Response:
        """A TR the simulator does not serve: a KIS error envelope, not a bare 404."""
        self.requests["not_served"] += 1
        return refusal_response(envelope_error(NOT_SERVED, 404), request.headers.get("tr_id", ""))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}

    async def _slow(self) -> None:
        if self.slow_ms:
            await asyncio.sleep(self.slow_ms / 1000)

    # -- OAuth ----------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        self.requests["tokenP"] += 1
        body = await self._body(request)
        await self._slow()
        if body.get("grant_type") != "client_credentials":
            return json_response({"error_code": "EGW00002", "error_description": "grant_type"}, 400)
        answer = self.auth.issue_token(str(body.get("appkey", "")), str(body.get("appsecret", "")))
        if isinstance(answer, Refusal):
            return refusal_response(answer)
        return json_response(answer)

    async def revoke(self, request: web.Request) -> web.Response:
        self.requests["revokeP"] += 1
        body = await self._body(request)
        self.auth.revoke(str(body.get("token", "")))
        return json_response({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})

    async def approval(self, request: web.Request) -> web.Response:
        self.requests["Approval"] += 1
        body = await self._body(request)
        await self._slow()
        answer = self.auth.issue_approval(
            str(body.get("appkey", "")), str(body.get("secretkey", ""))
        )
        if isinstance(answer, Refusal):
            return refusal_response(answer)
        return json_response(answer)

    # -- quotations -----------------------------------------------------------------------
    def _api(self, handler: Callable[[web.Request], Answer]) -> Handler:
        async def call(request: web.Request) -> web.StreamResponse:
            tr_id = TR_IDS[request.path]
            self.requests[tr_id] += 1
            await self._slow()
            if request.headers.get("tr_id", "") != tr_id:
                return refusal_response(envelope_error("OPSQ0002"), tr_id)
            refusal = self.auth.check_call(request.headers)
            if refusal is not None:
                return refusal_response(refusal, tr_id)
            answer = handler(request)
            if isinstance(answer, tuple):
                return json_response(answer[0], tr_id=tr_id, tr_cont=answer[1])
            return json_response(answer, tr_id=tr_id)

        return call

    def inquire_price(self, request: web.Request) -> dict[str, Any]:
        code = request.query.get("FID_INPUT_ISCD", "")
        if not self.market.has(code):
            return {**NO_DATA, "output": {}}
        return {**OK, "output": price_output(self.market.state(code))}

    def time_itemconclusion(self, request: web.Request) -> Answer:
        code = request.query.get("FID_INPUT_ISCD", "")
        if not self.market.has(code):
            return {**NO_DATA, "output1": {}, "output2": []}
        hour = request.query.get("FID_INPUT_HOUR_1", "")
        cont = request.headers.get("tr_cont", "")
        body, tr_cont = self.time_sales.answer(code, hour, request.headers.get("appkey", ""), cont)
        return {**OK, **body}, tr_cont

    def multi_price(self, request: web.Request) -> dict[str, Any]:
        items = []
        for n in range(1, MULTI_MAX + 1):
            code = request.query.get(f"FID_INPUT_ISCD_{n}", "")
            if code and self.market.has(code):
                items.append(multi_price_item(self.market.state(code)))
        return {**OK, "output": items}

    def daily_price(self, request: web.Request) -> dict[str, Any]:
        code = request.query.get("FID_INPUT_ISCD", "")
        if not self.market.has(code):
            return {**NO_DATA, "output": []}
        state = self.market.state(code)
        rows = [daily_item(state)]
        day = state.day
        calendar = self.market.calendar
        nxt = day
        while len(rows) < DAILY_ROWS:
            day -= timedelta(days=1)
            if calendar.is_market_day(day):
                rows.append(self._past_bar(state.issue, day, nxt))
                nxt = day
        return {**OK, "output": rows}

    def _past_bar(self, issue: SimIssue, day: date, following: date) -> dict[str, str]:
        """A finished day's bar: its close is the next day's base price, as on KRX."""
        seed = self.market.seed
        base = issue.base_price(day, seed)
        close = issue.base_price(following, seed)
        swing = abs(close - base) + base // 100
        high, low = max(base, close) + swing // 3, min(base, close) - swing // 3
        opened = base + (close - base) // 3
        sign = "2" if close > base else "5" if close < base else "3"
        rate = f"{(close - base) / base * 100:.2f}"
        return {
            "stck_bsop_date": day.strftime("%Y%m%d"),
            "stck_oprc": str(opened),
            "stck_hgpr": str(high),
            "stck_lwpr": str(low),
            "stck_clpr": str(close),
            "acml_vol": str(issue.prev_day_volume(following, seed)),
            "prdy_vrss_vol_rate": "0.00",
            "prdy_vrss": str(close - base),
            "prdy_vrss_sign": sign,
            "prdy_ctrt": rate,
            "flng_cls_code": "00",
        }

    def check_holiday(self, request: web.Request) -> dict[str, Any]:
        text = request.query.get("BASS_DT", "")
        try:
            day = datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            return {**NO_DATA, "output": []}
        rows = []
        for offset in range(HOLIDAY_ROWS):
            current = day + timedelta(days=offset)
            open_day = "Y" if self.market.calendar.is_market_day(current) else "N"
            rows.append(
                {
                    "bass_dt": current.strftime("%Y%m%d"),
                    "wday_dvsn_cd": f"{(current.isoweekday() % 7) + 1:02d}",
                    "bzdy_yn": open_day,
                    "tr_day_yn": open_day,
                    "opnd_yn": open_day,
                    "sttl_day_yn": open_day,
                }
            )
        return {**OK, "output": rows}

    # -- master files ---------------------------------------------------------------------
    async def master(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[name] += 1
        market = MASTER_MARKETS.get(name)
        if market is None:
            raise web.HTTPNotFound()
        day = self.market.business_day()
        key = (market, day)
        if key not in self._masters:
            self._masters = {k: v for k, v in self._masters.items() if k[1] == day}
            self._masters[key] = self.master_zip(market, day)
        return web.Response(body=self._masters[key], content_type="application/zip")

    def master_zip(self, market: str, day: date) -> bytes:
        """The master zip of one market for one day, in the layout KIS publishes."""
        seed = self.market.seed
        issues = []
        for issue in self.market.issues:
            if issue.market != market:
                continue
            base = issue.base_price(day, seed)
            issues.append(
                MasterIssue(
                    code=issue.code,
                    standard_code=issue.standard_code,
                    name=issue.name,
                    market=market,
                    group_code=issue.group_code,
                    halted=issue.halted,
                    liquidation=issue.liquidation,
                    administrative=issue.administrative,
                    warning_code=issue.warning_code,
                    is_spac=issue.is_spac,
                    preferred_code="1" if issue.is_preferred else "0",
                    base_price=base,
                    listed_shares=issue.listed_shares // 1000,
                    market_cap=base * issue.listed_shares // 100_000_000,
                    listing_date=issue.listing_date,
                )
            )
        return build_master_zip(issues, "KOSPI" if market == "KOSPI" else "KOSDAQ")
