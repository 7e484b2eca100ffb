"""parse_message: data frames by count, extra fields, rejects, control answers, garbage."""

from __future__ import annotations

from datetime import datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from observer.kis.frames import ControlMessage, DataMessage, PingPong, Reject, parse_message
from observer.kis.tr import h0stasp0, h0stcnt0, layouts
from tests.kis.frame_builder import book_fields, frame, trade_fields

TRADE_NAMES = [
    "trade_time", "price", "change_sign", "change", "change_rate", "vwap", "open", "high",
    "low", "ask1", "bid1", "trade_volume", "acc_volume", "acc_value", "sell_count",
    "buy_count", "net_buy_count", "strength", "sell_volume", "buy_volume", "trade_side",
    "buy_ratio", "volume_ratio_prev_day", "open_time", "open_vs_price_sign", "open_vs_price",
    "high_time", "high_vs_price_sign", "high_vs_price", "low_time", "low_vs_price_sign",
    "low_vs_price", "business_date", "session_code", "halted", "ask1_size", "bid1_size",
    "total_ask_size", "total_bid_size", "turnover", "prev_day_same_time_volume",
    "prev_day_same_time_volume_rate", "hour_class", "market_treatment_class", "vi_base_price",
]  # fmt: skip


def data(text: str) -> DataMessage:
    message = parse_message(text, 42)
    assert isinstance(message, DataMessage), message
    return message


def test_tables_declare_46_and_59_fields_with_documented_names() -> None:
    assert len(h0stcnt0.ROWS) == 46 and len(h0stasp0.ROWS) == 59
    assert [row[2] for row in h0stcnt0.ROWS[1:]] == TRADE_NAMES
    assert set(layouts()) == {"H0STCNT0", "H0NXCNT0", "H0UNCNT0", "H0STASP0"}
    names = [row[2] for row in h0stasp0.ROWS]
    assert names[1:3] == ["book_time", "hour_class"]
    assert names[53] == "acc_volume" and names[58] == "deal_class"
    assert names[3] == "ask1" and names[13] == "bid1" and names[23] == "ask1_size"


def test_single_trade_is_typed_and_timestamped() -> None:
    message = data(frame("H0STCNT0", [trade_fields()]))
    assert message.count == 1 and message.recv_ns == 42 and not message.rejects
    (record,) = message.records
    assert record.symbol == "005930" and record.tr_id == "H0STCNT0"
    assert list(record.data) == [*TRADE_NAMES, "trade_ts"]
    assert record.data["price"] == 71000 and record.data["change_rate"] == 0.71
    assert record.data["trade_time"] == "090001" and record.data["halted"] is False
    assert record.data["high_vs_price"] == -200 and record.data["session_code"] == "20"
    assert record.data["trade_ts"] == "2026-01-05T09:00:01+09:00"
    assert datetime.fromisoformat(record.data["trade_ts"]).utcoffset().total_seconds() == 32400
    assert record.raw == "^".join(trade_fields())


def test_multi_record_frames_split_by_count() -> None:
    records = [trade_fields(second=i, acc_volume=100 + i) for i in range(4)]
    message = data(frame("H0UNCNT0", records))
    assert [r.data["acc_volume"] for r in message.records] == [100, 101, 102, 103]
    assert [r.raw for r in message.records] == ["^".join(f) for f in records]
    assert all(r.tr_id == "H0UNCNT0" for r in message.records)


def test_a_47th_field_is_kept_in_raw_only() -> None:
    records = [[*trade_fields(second=i), "K"] for i in range(2)]
    message = data(frame("H0STCNT0", records))
    assert len(message.records) == 2 and not message.rejects
    assert message.records[1].raw.endswith("^0^K")
    assert "K" not in message.records[1].data.values()


def test_order_book() -> None:
    (record,) = data(frame("H0STASP0", [book_fields("000660")])).records
    assert record.symbol == "000660"
    assert record.data["ask1"] == 71000 and record.data["bid10"] == 70000
    assert record.data["ask10_size"] == 19 and record.data["deal_class"] == "0"
    assert record.data["expected_change_rate"] == 0.14 and "trade_ts" not in record.data


def test_field_count_not_divisible_by_count_is_rejected() -> None:
    text = frame("H0STCNT0", [trade_fields()]).replace("|001|", "|003|")
    message = parse_message(text, 0)
    assert isinstance(message, Reject) and "do not divide" in message.reason
    assert message.tr_id == "H0STCNT0" and message.raw == text


def test_rejects_with_reasons() -> None:
    cases = {
        "1|H0STCNT0|001|abc": "encrypted",
        "0|H9ZZZZZ0|001|a^b": "unknown tr_id",
        "0|H0STCNT0|000|a": "bad record count",
        "0|H0STCNT0|x1|a": "bad record count",
        "0|H0STCNT0|001|" + "^".join(trade_fields()[:40]): "expected 46",
        "hello": "not a data frame",
        "{not json": "bad json",
        "[1, 2]": "not a data frame",
    }
    for text, reason in cases.items():
        message = parse_message(text, 0)
        assert isinstance(message, Reject), text
        assert reason in message.reason, (text, message.reason)


def test_a_bad_record_is_rejected_and_the_rest_of_the_frame_kept() -> None:
    bad = trade_fields(second=2)
    bad[2] = "71k00"
    blank = trade_fields(second=3)
    blank[45] = ""
    bad_time = trade_fields(second=4)
    bad_time[1] = "256199"
    message = data(frame("H0STCNT0", [trade_fields(second=1), bad, blank, bad_time]))
    huge = trade_fields()
    huge[12] = "9" * 25
    assert data(frame("H0STCNT0", [huge])).records[0].data["trade_volume"] == int("9" * 25)
    for value in ("1,2", "null", "true", "false", "[1]", "{}", "1.5", "1e3", "1E3", '"7"', "--1"):
        odd = trade_fields()
        odd[12] = value
        result = data(frame("H0STCNT0", [odd]))
        assert [r.reason for r in result.rejects] == [f"bad trade_volume: {value!r}"], value
    spaced = trade_fields()
    spaced[12] = " 5"
    assert data(frame("H0STCNT0", [spaced])).records[0].data["trade_volume"] == 5
    assert [r.data["trade_time"] for r in message.records] == ["090001", "090003"]
    assert message.records[1].data["vi_base_price"] is None
    assert [r.reason for r in message.rejects] == [
        "bad price: '71k00'",
        "bad business date or trade time",
    ]
    assert message.rejects[0].raw == "^".join(bad)


def test_control_answers_and_pingpong() -> None:
    answer = {
        "header": {"tr_id": "H0STCNT0", "tr_key": "005930", "encrypt": "N"},
        "body": {"rt_cd": "0", "msg_cd": "OPSP0000", "msg1": "SUBSCRIBE SUCCESS",
                 "output": {"iv": "0123456789abcdef", "key": "k" * 32}},
    }  # fmt: skip
    message = parse_message(orjson.dumps(answer).decode(), 0)
    assert message == ControlMessage(
        "H0STCNT0", "005930", "0", "OPSP0000", "SUBSCRIBE SUCCESS", "0123456789abcdef", "k" * 32
    )
    limit = {
        "header": {"tr_id": "H0STCNT0", "tr_key": "000660"},
        "body": {"rt_cd": "1", "msg_cd": "OPSP0008", "msg1": "MAX SUBSCRIBE OVER"},
    }
    message = parse_message(orjson.dumps(limit).decode(), 0)
    assert isinstance(message, ControlMessage) and message.msg_cd == "OPSP0008"
    ping = '{"header":{"tr_id":"PINGPONG","datetime":"20260105090000"}}'
    assert parse_message(ping, 0) == PingPong(ping)


@st.composite
def trade_frames(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    count = draw(st.integers(1, 8))
    extra = draw(st.sampled_from([0, 1]))
    records = []
    for i in range(count):
        fields = trade_fields(
            symbol=draw(st.from_regex(r"[0-9A-Z]{6}", fullmatch=True)),
            second=i,
            acc_volume=draw(st.integers(0, 10**12)),
        )
        fields[2] = str(draw(st.integers(1, 10**7)))
        fields[5] = repr(draw(st.floats(-30, 30, allow_nan=False)))
        records.append(fields + ["X"] * extra)
    return frame(draw(st.sampled_from(["H0STCNT0", "H0NXCNT0", "H0UNCNT0"])), records), records


@settings(max_examples=150, deadline=None)
@given(trade_frames())
def test_round_trip_of_generated_frames(case: tuple[str, list[list[str]]]) -> None:
    text, records = case
    message = data(text)
    assert not message.rejects and message.count == len(records)
    for parsed, fields in zip(message.records, records, strict=True):
        assert parsed.raw == "^".join(fields)
        assert parsed.symbol == fields[0]
        assert parsed.data["acc_volume"] == int(fields[13])
        assert parsed.data["price"] == int(fields[2])
        assert parsed.data["change_rate"] == float(fields[5])


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_random_text_never_raises(text: str) -> None:
    result = parse_message(text, 0)
    assert isinstance(result, DataMessage | ControlMessage | PingPong | Reject)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["0", "1", "2"]),
    st.sampled_from(["H0STCNT0", "H0STASP0", "PINGPONG", ""]),
    st.integers(0, 12),
    st.lists(st.text(alphabet="0123456789.-+ ^|YNe_a,[]nul", max_size=12), max_size=140),
)
def test_garbage_shaped_like_frames_never_raises(
    enc: str, tr_id: str, count: int, fields: list[str]
) -> None:
    text = f"{enc}|{tr_id}|{count:03d}|" + "^".join(fields)
    result = parse_message(text, 0)
    if isinstance(result, DataMessage):
        assert len(result.records) + len(result.rejects) == result.count
        for record in result.records:
            assert orjson.dumps(record.data)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-(10**25), 10**25).map(str),
            st.text(alphabet="0123456789-+., eE", max_size=6),
            st.sampled_from(["true", "false", "null", '"7"', "[1]", "{}", "1,2", "0x1", "1_0"]),
        ),
        min_size=46,
        max_size=46,
    )
)
def test_fast_path_agrees_with_field_by_field_conversion(values: list[str]) -> None:
    from observer.kis.frames import _convert_slowly, _decoder

    decoder = _decoder("H0STCNT0")
    assert decoder is not None
    fields = trade_fields()
    for position, (_p, _code, _name, parser) in enumerate(h0stcnt0.ROWS):
        if parser in (int, float) and position:
            fields[position] = values[position]
    slow = _convert_slowly(decoder, fields)
    try:
        fast = decoder.convert(fields)
    except ValueError:
        return  # the parser then uses the slow path itself
    assert fast == slow
    for _p, _code, name, parser in h0stcnt0.ROWS[1:]:
        if parser is int:
            assert type(fast[name]) is int


def test_tables_of_any_shape_compile() -> None:
    from observer.kis.frames import _compile
    from observer.kis.tr import TrLayout, yes_no

    one_int = TrLayout(("X",), ((0, "C", "symbol", str), (1, "A", "a", int), (2, "F", "f", yes_no)))
    assert _compile(one_int)(["s", "7", "Y"]) == {"a": 7, "f": True}
    no_int = TrLayout(("Y",), ((0, "C", "symbol", str), (1, "B", "b", float), (2, "S", "s", str)))
    assert _compile(no_int)(["s", "1.5", "x"]) == {"b": 1.5, "s": "x"}
