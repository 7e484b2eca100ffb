"""The client against replies shaped as the published documentation shows them.

Every fixture under tests/kis/data/replies/ follows KIS_PROTOCOL.md (it says which TR and which
section); values are fakes. Served over loopback by the fake KIS, each is read by the real client.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import orjson
import pytest

from observer.kis.account import KisAccount
from observer.kis.envelope import parse_envelope
from observer.kis.frames import ControlMessage, DataMessage, PingPong, parse_message
from tests.kis.fake_kis import FakeKis
from tests.kis.replies import names, reply

QUOTES = "/uapi/domestic-stock/v1/quotations"
CONTROL = [n for n in names() if n.startswith("ws_") and "frame" not in n and "ping" not in n]


def test_every_fixture_names_its_tr_and_document_section() -> None:
    assert len(names()) >= 19
    for name in names():
        fixture = reply(name)
        assert "KIS_PROTOCOL.md" in fixture["follows"], name
        assert fixture["exchange"] and "tr_id" in fixture, name


async def test_token_and_approval_key(
    make_account: Callable[..., KisAccount], fake: FakeKis
) -> None:
    token, approval = reply("token")["body"], reply("approval_key")["body"]
    fake.script("/oauth2/tokenP", (200, token))
    fake.script("/oauth2/Approval", (200, approval))
    account = make_account()
    assert (await account.tokens.access_token()).get_secret_value() == token["access_token"]
    assert await account.approval_key() == approval["approval_key"]


async def test_inquire_price(make_account: Callable[..., KisAccount], fake: FakeKis) -> None:
    body = reply("inquire_price")["body"]
    fake.script(f"{QUOTES}/inquire-price", (200, body))
    quote = await make_account().rest.inquire_price("005930")
    out = body["output"]
    assert quote.data["price"] == int(out["stck_prpr"])
    assert quote.data["acc_volume"] == int(out["acml_vol"])
    assert quote.data["prev_close"] == int(out["stck_sdpr"])
    assert quote.data["name"] is None and quote.flags == ["no_bid_ask"]


async def test_multi_price(make_account: Callable[..., KisAccount], fake: FakeKis) -> None:
    body = reply("multi_price")["body"]
    fake.script(f"{QUOTES}/intstock-multprice", (200, body))
    quotes = await make_account().rest.multi_price(["005930", "000660"])
    assert [q.symbol for q in quotes] == ["005930", "000660"]
    for quote, item in zip(quotes, body["output"], strict=True):
        assert quote.data["name"] == item["inter_kor_isnm"]
        assert quote.data["ask1"] == int(item["inter2_askp"])
        assert quote.data["prev_close"] == int(item["inter2_prdy_clpr"])


async def test_time_and_sales(make_account: Callable[..., KisAccount], fake: FakeKis) -> None:
    fixture = reply("time_itemconclusion")
    path = f"{QUOTES}/inquire-time-itemconclusion"
    fake.script(path, (200, fixture["body"]))
    fake.reply_headers[path] = fixture["headers"]
    page = await make_account().rest.time_sales("005930", "100002")
    rows = fixture["body"]["output2"]
    assert page.more and page.rejects == 0
    assert [s.acc_volume for s in page.sales] == [int(r["acml_vol"]) for r in rows]
    assert [s.volume for s in page.sales] == [int(r["cnqn"]) for r in rows]
    assert [s.data["price"] for s in page.sales] == [int(r["stck_pbpr"]) for r in rows]
    assert page.sales[0].time == rows[0]["stck_cntg_hour"]
    _, headers, query = fake.requests[-1]
    assert query["FID_INPUT_HOUR_1"] == "100002" and headers["tr_id"] == "FHPST01060000"


async def test_master_download(make_account: Callable[..., KisAccount], fake: FakeKis) -> None:
    fixture = reply("master_lines")
    for market, member in (("KOSPI", "kospi_code.mst"), ("KOSDAQ", "kosdaq_code.mst")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(member, (fixture["lines"][market] + "\r\n").encode("cp949"))
        fake.masters[f"{member}.zip"] = buffer.getvalue()
    issues = {i.code: i for i in await make_account().rest.download_masters()}
    for market, expect in fixture["expect"].items():
        issue = issues[expect["code"]]
        assert issue.market == market
        for key, value in expect.items():
            assert getattr(issue, key) == value, (market, key)


@pytest.mark.parametrize("envelope", reply("rest_errors")["envelopes"])
def test_every_error_envelope_is_classified(envelope: dict[str, object]) -> None:
    parsed = parse_envelope(orjson.dumps(envelope["body"]))
    assert parsed.action.value == envelope["action"]
    assert parsed.msg_cd in orjson.dumps(envelope["body"]).decode()


@pytest.mark.parametrize("name", CONTROL)
def test_control_answers(name: str) -> None:
    message = reply(name)["message"]
    parsed = parse_message(orjson.dumps(message).decode(), 1)
    assert isinstance(parsed, ControlMessage)
    assert parsed.msg_cd == message["body"]["msg_cd"]
    assert parsed.tr_id == message["header"]["tr_id"]
    if "output" in message["body"]:
        assert parsed.key == message["body"]["output"]["key"]


def test_pingpong_is_recognised_and_echoed_unchanged() -> None:
    text = orjson.dumps(reply("ws_pingpong")["message"]).decode()
    parsed = parse_message(text, 1)
    assert isinstance(parsed, PingPong) and parsed.text == text


@pytest.mark.parametrize("name", ["ws_trade_frame", "ws_book_frame"])
def test_data_frames(name: str) -> None:
    fixture = reply(name)
    parsed = parse_message(fixture["frame"], 1)
    assert isinstance(parsed, DataMessage) and not parsed.rejects
    assert parsed.tr_id == fixture["tr_id"]
    assert len(parsed.records) == fixture["expect"]["records"]
    for record in parsed.records:
        assert len(record.raw.split("^")) == fixture["expect"]["fields_per_record"]
    if "acc_volume" in fixture["expect"]:
        assert [r.data["acc_volume"] for r in parsed.records] == fixture["expect"]["acc_volume"]
        assert [r.data["trade_volume"] for r in parsed.records] == fixture["expect"]["trade_volume"]
