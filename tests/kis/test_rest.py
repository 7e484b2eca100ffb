"""KisRestClient against a loopback fake KIS: retries, token refresh, fallbacks, redaction."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from datetime import date

import aiohttp
import pytest

from observer.clock import ManualClock
from observer.config.redact import Redactor
from observer.kis.account import KisAccount
from observer.kis.exceptions import (
    KisApiError,
    KisCredentialsError,
    KisProtocolError,
    KisTransportError,
    MasterError,
    RateLimitError,
)
from observer.kis.quotes import quote_from_multi
from observer.metrics import Metrics
from tests.kis.fake_kis import (
    APP_KEY,
    APP_SECRET,
    FakeKis,
    _multi,
    error,
    master_zips,
    price_of,
)

PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
MULTI = "/uapi/domestic-stock/v1/quotations/intstock-multprice"


def count(metrics: Metrics, api: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "observer_kis_requests_total", {"api": api, "outcome": outcome}
    )
    return value or 0.0


async def test_inquire_price_maps_swing_fields(make_account: Callable[..., KisAccount]) -> None:
    quote = await make_account().rest.inquire_price("005930")
    assert quote.symbol == "005930"
    assert quote.data["price"] == price_of("005930")
    assert quote.data["change_rate"] == 1.0
    assert quote.data["market"] == "KRX"
    assert quote.data["upper_limit"] == price_of("005930") * 13 // 10
    assert '"stck_prpr"' in quote.raw
    # FHKST01010100 has no name, bid/ask or previous close: base price stands in, bid/ask flagged
    assert quote.data["prev_close"] == quote.data["base_price"] == price_of("005930") - 10
    assert quote.data["name"] is None
    assert quote.data["ask1"] is None and quote.data["bid1"] is None
    assert quote.flags == ["no_bid_ask"]
    multi = quote_from_multi(_multi("005930"), "J")
    assert multi is not None and list(quote.data) == list(multi.data)  # same fields, same order


async def test_rate_limit_answer_backs_off_and_recovers(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    metrics = Metrics()
    account = make_account(metrics=metrics)
    fake.script(PRICE, error("EGW00201", "too many requests"), error("EGW00201"))
    before = clock.monotonic()
    quote = await account.rest.inquire_price("000660")
    assert quote.data["price"] == price_of("000660")
    assert fake.calls(PRICE) == 3
    assert clock.monotonic() - before >= 1.0  # backed off at least the per-second window
    assert metrics.registry.get_sample_value("observer_kis_rate_limited_total") == 2
    assert count(metrics, "inquire_price", "rate_limited") == 2
    assert count(metrics, "inquire_price", "ok") == 1
    assert len(fake.token_times) == 1  # a 500 is never taken for a bad token


async def test_persistent_rate_limit_gives_up_with_rate_limit_error(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    fake.script(PRICE, *[error("EGW00201")] * 10)
    with pytest.raises(RateLimitError) as info:
        await make_account().rest.inquire_price("000660")
    assert info.value.msg_cd == "EGW00201"
    assert fake.calls(PRICE) == 4


async def test_gateway_errors_are_retried(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    fake.script(PRICE, error("EGW00300"), (502, b"<html>bad gateway</html>"))
    quote = await make_account().rest.inquire_price("000100")
    assert quote.data["price"] == price_of("000100")
    assert fake.calls(PRICE) == 3


async def test_non_json_answers_end_in_a_protocol_error(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    fake.script(PRICE, *[(502, b"<html>bad gateway</html>")] * 4)
    with pytest.raises(KisProtocolError):
        await make_account().rest.inquire_price("000100")


async def test_expired_token_is_refreshed_once_then_the_call_retried(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account()
    await account.access_token()
    clock.advance(61)
    fake.valid_tokens.clear()  # KIS forgot the token: EGW00123 on the next call
    quote = await account.rest.inquire_price("005930")
    assert quote.symbol == "005930"
    assert len(fake.token_times) == 2
    assert fake.calls(PRICE) == 2


async def test_a_second_token_rejection_fails_instead_of_looping(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account()
    fake.script(PRICE, *[error("EGW00123", "expired")] * 10)
    with pytest.raises(KisApiError) as info:
        await account.rest.inquire_price("005930")
    assert info.value.msg_cd == "EGW00123"
    assert fake.calls(PRICE) == 2
    assert len(fake.token_times) == 2


async def test_token_error_storm_never_issues_twice_within_a_minute(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    account = make_account()
    fake.script(PRICE, *[error("EGW00121", "invalid token")] * 40)
    for _ in range(10):
        with pytest.raises(KisApiError):
            await account.rest.inquire_price("005930")
        clock.advance(5)
    times = fake.token_times
    assert len(times) >= 2
    assert all(later - earlier >= 60 for earlier, later in itertools.pairwise(times))


async def test_invalid_app_key_is_fatal_and_does_not_storm(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    account = make_account()
    fake.script(PRICE, error("EGW00103", "invalid appkey"))
    for _ in range(3):
        with pytest.raises(KisCredentialsError):
            await account.rest.inquire_price("005930")
    assert fake.calls(PRICE) == 1
    assert account.fatal is not None and account.fatal.msg_cd == "EGW00103"


async def test_quotes_use_multi_price_in_chunks_of_30(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    symbols = [f"{i:06d}" for i in range(1, 66)]
    batch = await make_account().rest.quotes(symbols)
    assert [q.symbol for q in batch.quotes] == symbols
    assert batch.failed == []
    assert batch.calls == 3
    assert fake.calls(MULTI) == 3
    assert batch.quotes[0].data["ask1"] == price_of("000001") + 1


async def test_multi_price_unavailable_falls_back_per_symbol_for_the_day(
    make_account: Callable[..., KisAccount], fake: FakeKis, clock: ManualClock
) -> None:
    fake.multi_unavailable = True
    rest = make_account().rest
    symbols = [f"{i:06d}" for i in range(1, 36)]
    batch = await rest.quotes(symbols)
    assert len(batch.quotes) == 35 and batch.used_fallback
    assert fake.calls(MULTI) == 1
    assert fake.calls(PRICE) == 35
    await rest.quotes(symbols[:2])
    assert fake.calls(MULTI) == 1  # still today: no further multi attempts
    clock.advance(86400)
    fake.multi_unavailable = False
    await rest.quotes(symbols[:2])
    assert fake.calls(MULTI) == 2


async def test_symbols_missing_from_a_multi_answer_are_reported_failed(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    answer = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "ok",
              "output": [{"inter_shrn_iscd": "000001", "inter2_prpr": "1010"}]}  # fmt: skip
    fake.script(MULTI, (200, answer))
    batch = await make_account().rest.quotes(["000001", "000002"])
    assert [q.symbol for q in batch.quotes] == ["000001"]
    assert batch.failed == ["000002"]
    assert batch.quotes[0].data["high"] is None


async def test_daily_prices_and_market_day(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    rest = make_account().rest
    rows = await rest.daily_prices("005930")
    assert rows[0]["close"] == 105 and rows[0]["date"] == "20260105"
    assert await rest.is_market_day(date(2026, 1, 5)) is True
    assert await rest.is_market_day(date(2026, 1, 3)) is False
    assert await rest.is_market_day(date(2026, 1, 5)) is True
    assert fake.calls("/uapi/domestic-stock/v1/quotations/chk-holiday") == 2


async def test_download_masters(make_account: Callable[..., KisAccount], fake: FakeKis) -> None:
    fake.masters = master_zips()
    issues = await make_account().rest.download_masters()
    assert [i.market for i in issues] == ["KOSPI"] * 5 + ["KOSDAQ"] * 3
    assert issues[0].code == "005000" and issues[0].name == "종목0"
    fake.masters = {}
    with pytest.raises(MasterError):
        await make_account().rest.download_masters()


async def test_connection_refused_becomes_a_transport_error(
    make_settings: object, clock: ManualClock, http: aiohttp.ClientSession,
    make_account: Callable[..., KisAccount], fake: FakeKis,
) -> None:  # fmt: skip
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    account = make_account()
    await account.access_token()
    account.rest._base_url = f"http://127.0.0.1:{port}"
    with pytest.raises(KisTransportError):
        await account.rest.inquire_price("005930")


async def test_secrets_never_reach_logs_or_errors_of_a_failing_call(
    make_account: Callable[..., KisAccount], fake: FakeKis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = make_account(redactor=Redactor())
    token = await account.access_token()
    echo = f"bad request appkey={APP_KEY} appsecret={APP_SECRET} token {token}"
    fake.script(PRICE, *[error("EGW00300", echo)] * 4)
    with pytest.raises(KisApiError) as info:
        await account.rest.inquire_price("005930")
    logging.getLogger("observer.kis.test").error("failed: %s", info.value)
    for secret in (APP_KEY, APP_SECRET, token):
        assert secret not in caplog.text
        assert secret not in str(info.value)
        assert secret not in repr(account) + repr(account.tokens) + repr(account.rest)
    assert "EGW00300" in caplog.text


async def test_a_hanging_server_times_out_into_a_transport_error(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    account = make_account(KIS_REQUEST_TIMEOUT_SECONDS=0.1)
    await account.access_token()
    fake.hang = True
    with pytest.raises(KisTransportError) as info:
        await account.rest.inquire_price("005930")
    assert info.value.reason == "timed out"
    assert fake.calls(PRICE) == 4  # retried: a GET is idempotent


async def test_a_peer_vanishing_mid_answer_is_a_transport_error_and_retried(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    account = make_account()
    await account.access_token()
    connections = 0

    async def cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"rt_cd":"0","out')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut_off, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        account.rest._base_url = f"http://127.0.0.1:{port}"
        with pytest.raises(KisTransportError) as info:
            await account.rest.inquire_price("005930")
        assert connections == 4
        assert "Payload" in info.value.reason or "Disconnected" in info.value.reason
    finally:
        server.close()
        await server.wait_closed()
