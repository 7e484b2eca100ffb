"""The KIS client against the simulator over real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import aiohttp
import pytest

from observer.clock import ManualClock
from observer.config.redact import Redactor
from observer.kis.account import KisAccount
from observer.kis.exceptions import KisCredentialsError
from observer.metrics import Metrics
from observer.sim.server import SimServer

KEY = "fake-sim-app-key"
SECRET = "fake-sim-app-secret"


@pytest.fixture
def sim_settings(make_settings: Any) -> Callable[..., Any]:
    def build(**overrides: Any) -> Any:
        return make_settings(OBSERVER_SIM_ISSUES=40, **overrides)

    return build


@pytest.fixture
async def sim(sim_settings: Callable[..., Any], clock: ManualClock) -> AsyncIterator[SimServer]:
    server = SimServer(sim_settings(), clock, app_keys={KEY: SECRET})
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()


@pytest.fixture
def account_for(
    sim: SimServer, sim_settings: Callable[..., Any], clock: ManualClock,
    http: aiohttp.ClientSession,
) -> Callable[..., KisAccount]:  # fmt: skip
    def build(secret: str = SECRET, rate: float = 1000.0) -> KisAccount:
        settings = sim_settings(
            KIS_BASE_URL=sim.base_url, KIS_WS_URL=sim.ws_url, KIS_MASTER_URL=sim.master_url,
            KIS_RATE_LIMIT_PER_SECOND=rate,
        )  # fmt: skip
        return KisAccount(settings, KEY, secret, clock, Metrics(), Redactor(), http)

    return build


async def test_universe_quotes_from_masters_with_one_token(
    sim: SimServer, account_for: Callable[..., KisAccount]
) -> None:
    rest = account_for().rest
    issues = await rest.download_masters()
    assert {i.market for i in issues} == {"KOSPI", "KOSDAQ"}
    assert len(issues) == len(sim.market.issues)
    codes = [i.code for i in issues]
    batch = await rest.quotes(codes)
    assert sorted(q.symbol for q in batch.quotes) == sorted(codes)
    assert batch.failed == [] and batch.calls == 2
    assert all(isinstance(q.data["price"], int) and q.data["price"] > 0 for q in batch.quotes)
    single = await rest.inquire_price(codes[0])
    assert single.data["price"] > 0
    restarted = account_for()
    await restarted.rest.inquire_price(codes[1])
    assert sim.auth.tokens_issued[KEY] == 1


async def test_calendar_and_daily_prices(
    sim: SimServer, account_for: Callable[..., KisAccount]
) -> None:
    rest = account_for().rest
    assert await rest.is_market_day(date(2026, 1, 3)) is False  # a Saturday
    assert await rest.is_market_day(date(2026, 1, 5)) is True
    assert sim.rest.requests["CTCA0903R"] == 1  # the first answer covered the following days
    rows = await rest.daily_prices(sim.market.issues[0].code)
    assert rows and all(isinstance(r["close"], int) for r in rows)


async def test_expired_token_is_refreshed_once(
    sim: SimServer, account_for: Callable[..., KisAccount], clock: ManualClock
) -> None:
    account = account_for()
    code = sim.market.issues[0].code
    await account.rest.inquire_price(code)
    clock.advance(120)
    assert sim.auth.expire_tokens(KEY) == 1
    await account.rest.inquire_price(code)
    assert sim.auth.tokens_issued[KEY] == 2
    assert sim.auth.tokens_refused[KEY] == 0


async def test_simulator_rate_limit_is_backed_off_and_recovers(
    sim_settings: Callable[..., Any], clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    strict = SimServer(sim_settings(OBSERVER_SIM_RATE_LIMIT=2), clock, app_keys={KEY: SECRET})
    await strict.start("127.0.0.1", 0)
    try:
        settings = sim_settings(KIS_BASE_URL=strict.base_url, KIS_RATE_LIMIT_PER_SECOND=1000)
        rest = KisAccount(settings, KEY, SECRET, clock, Metrics(), Redactor(), http).rest
        for issue in strict.market.issues[:6]:  # the client was told 1000/s, the server allows 2
            quote = await rest.inquire_price(issue.code)
            assert quote.symbol == issue.code
        assert strict.auth.rate_limited[KEY] > 0
    finally:
        await strict.stop()


async def test_wrong_secret_is_fatal_without_retries(
    sim: SimServer, account_for: Callable[..., KisAccount]
) -> None:
    account = account_for(secret="fake-wrong-secret")
    for _ in range(3):
        with pytest.raises(KisCredentialsError) as info:
            await account.rest.inquire_price(sim.market.issues[0].code)
    assert info.value.msg_cd == "EGW00105"
    assert sim.rest.requests["tokenP"] == 1


@pytest.mark.parametrize("extra_field", [False, True])
async def test_simulator_frames_parse_without_rejects(
    sim: SimServer, clock: ManualClock, extra_field: bool
) -> None:
    from observer.kis.frames import DataMessage, parse_message
    from observer.sim.wire import book_record, data_frame, trade_record

    codes = [issue.code for issue in sim.market.issues[:5]]
    for code in codes:
        sim.market.watch(code)
    clock.advance(1800)  # half an hour of the regular session
    trades = 0
    for code in codes:
        state, ticks = sim.market.take_trades(code)
        records = [trade_record(state, tick, extra_field) for tick in ticks[:50]]
        for start in range(0, len(records), 4):
            message = parse_message(data_frame("H0STCNT0", records[start : start + 4]), 1)
            assert isinstance(message, DataMessage) and not message.rejects, message
            assert all(r.symbol == code for r in message.records)
            trades += len(message.records)
        book = parse_message(data_frame("H0STASP0", [book_record(state, clock.now_ns())]), 1)
        assert isinstance(book, DataMessage) and len(book.records) == 1 and not book.rejects
    assert trades > 0
