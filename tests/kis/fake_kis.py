"""A tiny loopback KIS server speaking the documented envelopes, for protocol edge cases.

Answers can be scripted per path (a FIFO of (status, body) pairs consumed one per request);
otherwise it answers like KIS does on success. It checks the bearer token of API calls and
answers EGW00123 for a token it did not issue.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from observer.kis.master import MasterIssue, build_master_zip

APP_KEY = "fake-app-key-0001"
APP_SECRET = "fake-app-secret-0001"

Answer = tuple[int, dict[str, Any] | bytes]


def error(msg_cd: str, msg1: str = "error", status: int = 500) -> Answer:
    """A KIS error envelope."""
    return status, {"rt_cd": "1", "msg_cd": msg_cd, "msg1": msg1}


class FakeKis:
    """Token, approval, quote, daily, holiday and master endpoints on 127.0.0.1."""

    def __init__(self, now: Callable[[], float] = lambda: 0.0) -> None:
        self.now = now
        self.scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.token_times: list[float] = []
        self.approval_count = 0
        self.valid_tokens: set[str] = set()
        self.token_delay = 0.0
        self.hang = False  # API calls wait until `release` is set
        self.release = asyncio.Event()
        self.masters: dict[str, bytes] = {}
        self.multi_unavailable = False
        self.reply_headers: dict[str, dict[str, str]] = {}  # path -> headers of scripted answers
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, path: str, *answers: Answer) -> None:
        """Queue answers for the next requests to ``path`` (suffix after the host)."""
        self.scripts[path].extend(answers)

    def calls(self, path: str) -> int:
        """Requests received for ``path``."""
        return sum(1 for p, _h, _q in self.requests if p == path)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/oauth2/tokenP", self._token)
        app.router.add_post("/oauth2/Approval", self._approval)
        app.router.add_get("/master/{name}", self._master)
        app.router.add_get("/uapi/domestic-stock/v1/quotations/{name}", self._api)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _scripted(self, path: str) -> web.Response | None:
        queue = self.scripts.get(path)
        if not queue:
            return None
        status, body = queue.popleft()
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = self.reply_headers.get(path, {})
        return web.Response(
            status=status, body=raw, content_type="application/json", headers=headers
        )

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, dict(request.headers), body))
        self.token_times.append(self.now())
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        scripted = self._scripted(request.path)
        if scripted is not None:
            return scripted
        if body.get("appkey") != APP_KEY or body.get("appsecret") != APP_SECRET:
            return web.json_response(
                {"error_code": "EGW00103", "error_description": "invalid app key"}, status=403
            )
        token = f"fake-access-token-{len(self.token_times):04d}"
        self.valid_tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 86400,
                "access_token_token_expired": "2099-01-01 00:00:00",
            }
        )

    async def _approval(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, dict(request.headers), body))
        scripted = self._scripted(request.path)
        if scripted is not None:
            return scripted
        if body.get("secretkey") != APP_SECRET:
            return web.json_response({"error_code": "EGW00105", "error_description": "bad"})
        self.approval_count += 1
        return web.json_response({"approval_key": f"fake-approval-key-{self.approval_count}"})

    async def _master(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), dict(request.query)))
        data = self.masters.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/zip")

    async def _api(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append((request.path, dict(request.headers), query))
        if self.hang:
            await self.release.wait()
        scripted = self._scripted(request.path)
        if scripted is not None:
            return scripted
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return web.json_response(error("EGW00123", "token expired")[1], status=500)
        name = request.match_info["name"]
        if name == "inquire-price":
            return _ok({"output": _single(query["FID_INPUT_ISCD"])})
        if name == "intstock-multprice":
            if self.multi_unavailable:
                return web.json_response(error("EGW00206", "no permission")[1], status=200)
            symbols = [
                query[f"FID_INPUT_ISCD_{i}"] for i in range(1, 31) if f"FID_INPUT_ISCD_{i}" in query
            ]
            return _ok({"output": [_multi(s) for s in symbols]})
        if name == "inquire-daily-price":
            rows = [{"stck_bsop_date": "20260105", "stck_oprc": "100", "stck_hgpr": "110",
                     "stck_lwpr": "90", "stck_clpr": "105", "acml_vol": "1000",
                     "prdy_vrss": "5", "prdy_vrss_sign": "2", "prdy_ctrt": "5.00"}]  # fmt: skip
            return _ok({"output": rows})
        if name == "chk-holiday":
            day = query["BASS_DT"]
            return _ok(
                {"output": [{"bass_dt": day, "opnd_yn": "N" if day.endswith("03") else "Y"}]}
            )
        return web.json_response(error("EGW00206", "unknown")[1], status=404)


def _ok(payload: dict[str, Any]) -> web.Response:
    return web.json_response({"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "ok", **payload})


def price_of(symbol: str) -> int:
    """A deterministic price per symbol."""
    return 1000 + int(symbol[-3:]) * 10


def _single(symbol: str) -> dict[str, str]:
    price = price_of(symbol)
    return {"stck_prpr": str(price), "prdy_vrss": "10", "prdy_vrss_sign": "2",
            "prdy_ctrt": "1.00", "acml_vol": "12345", "acml_tr_pbmn": "99999999",
            "stck_oprc": str(price - 5), "stck_hgpr": str(price + 20),
            "stck_lwpr": str(price - 20), "stck_mxpr": str(price * 13 // 10),
            "stck_llam": str(price * 7 // 10), "stck_sdpr": str(price - 10)}  # fmt: skip


def _multi(symbol: str) -> dict[str, str]:
    price = price_of(symbol)
    return {"inter_shrn_iscd": symbol, "inter_kor_isnm": f"종목{symbol}",
            "inter2_prpr": str(price), "inter2_prdy_vrss": "10", "prdy_vrss_sign": "2",
            "prdy_ctrt": "1.00", "acml_vol": "12345", "acml_tr_pbmn": "99999999",
            "inter2_oprc": str(price - 5), "inter2_hgpr": str(price + 20),
            "inter2_lwpr": str(price - 20), "inter2_mxpr": str(price * 13 // 10),
            "inter2_llam": str(price * 7 // 10), "inter2_askp": str(price + 1),
            "inter2_bidp": str(price), "inter2_prdy_clpr": str(price - 10),
            "inter2_sdpr": str(price - 10)}  # fmt: skip


def sample_issues(market: str, count: int) -> list[MasterIssue]:
    """A few master issues for ``market``."""
    base = 5000 if market == "KOSPI" else 100000
    return [
        MasterIssue(f"{base + i:06d}", f"KR7{base + i:06d}003", f"종목{i}", market,
                    base_price=10000 + i, listed_shares=1000 + i, listing_date="20200101")
        for i in range(count)
    ]  # fmt: skip


def master_zips() -> dict[str, bytes]:
    """The two master zips keyed by file name."""
    return {
        "kospi_code.mst.zip": build_master_zip(sample_issues("KOSPI", 5), "KOSPI"),
        "kosdaq_code.mst.zip": build_master_zip(sample_issues("KOSDAQ", 3), "KOSDAQ"),
    }
