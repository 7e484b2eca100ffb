"""The pipeline end to end over crafted records: flags, quarantine, enrichment, counting."""

from __future__ import annotations

import pytest

from observer.metrics import Metrics
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record
from observer.pipeline.ticks import (
    ACC_VOLUME_DECREASED,
    BELOW_MIN_PRICE,
    DUPLICATE,
    NOT_IN_UNIVERSE,
    OFF_TICK_GRID,
    OUTSIDE_PRICE_LIMIT,
    OUTSIDE_SESSION,
    RECV_SKEW,
    VOLUME_MISMATCH,
)
from tests.pipeline.conftest import kst_ns, quote, sample, trade


def test_clean_trades_pass_enriched(pipeline: Pipeline) -> None:
    records = [
        trade(time="090001", acc=10, volume=10, count=1),
        trade(time="090002", price=70_100, acc=15, volume=5, count=2),
        trade("069500", time="152000", price=35_005, acc=7, volume=7),
        trade("091990", time="153000", price=2_345, acc=100, volume=100),
    ]
    result = pipeline.process_ticks(records)
    assert result.records_to_archive == records
    assert result.gaps == [] and result.quarantined == []
    assert all(r.flags == [] for r in records)
    assert [r.data["session"] for r in records] == [
        "regular",
        "regular",
        "closing_auction",
        "closing_auction",  # a 15:30:00 print is within the tolerance of the closing auction
    ]
    assert [r.data["tick_size"] for r in records] == [100, 100, 5, 5]
    assert [r.data["market"] for r in records] == ["KOSPI", "KOSPI", "KOSPI", "KOSDAQ"]


@pytest.mark.parametrize(
    ("record", "flag"),
    [
        (trade(price=70_050), OFF_TICK_GRID),
        (trade(price=91_100), OUTSIDE_PRICE_LIMIT),  # base 70,000: upper limit 91,000
        (trade(price=48_950), OUTSIDE_PRICE_LIMIT),  # lower limit 49,000
        (trade(time="200000"), OUTSIDE_SESSION),
        (trade(time="082800"), OUTSIDE_SESSION),  # more than 60 s before the pre-open
        (trade(day="20260103", time="100000"), OUTSIDE_SESSION),  # a Saturday
        (trade(recv_ns=kst_ns("20260105", "090001") + 11 * 10**9), RECV_SKEW),
        (trade(recv_ns=kst_ns("20260105", "090001") - 11 * 10**9), RECV_SKEW),
        (trade("000001", price=1_234), NOT_IN_UNIVERSE),
    ],
)
def test_bad_trades_are_kept_with_a_flag(
    pipeline: Pipeline, metrics: Metrics, record: Record, flag: str
) -> None:
    result = pipeline.process_ticks([record])
    assert result.records_to_archive == [record]
    assert record.flags == [flag]
    assert sample(metrics, "observer_records_flagged_total", flag=flag) == 1


def test_trade_at_limit_and_edge_of_tolerance_is_clean(pipeline: Pipeline) -> None:
    records = [trade(price=91_000, time="082900"), trade(price=49_000, time="180100", acc=20)]
    pipeline.process_ticks(records)
    assert [r.flags for r in records] == [[], []]
    assert records[1].data["session"] == "after_hours"


def test_decreasing_acc_volume_is_flagged_not_dropped(pipeline: Pipeline, metrics: Metrics) -> None:
    records = [
        trade(time="090001", acc=100, volume=100, count=1),
        trade(time="090002", acc=90, volume=5, count=2),  # goes back: flagged
        trade(time="090002", acc=90, volume=5, count=2),  # still back
        trade(time="090003", acc=105, volume=5, count=2),  # continues from 100
        trade(time="090003", acc=105, volume=5, count=2),  # redelivered
        trade(time="090004", acc=107, volume=5, count=3),  # rose less than the trade
    ]
    result = pipeline.process_ticks(records)
    assert result.records_to_archive == records
    assert [r.flags for r in records] == [
        [],
        [ACC_VOLUME_DECREASED],
        [ACC_VOLUME_DECREASED],
        [],
        [DUPLICATE],
        [VOLUME_MISMATCH],
    ]
    assert result.gaps == []
    assert sample(metrics, "observer_records_flagged_total", flag=ACC_VOLUME_DECREASED) == 2


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (trade(symbol=""), "missing_symbol"),
        (trade(price=0), "bad_price"),
        (trade(price="70000"), "bad_price"),  # type: ignore[arg-type]
        (trade(price=True), "bad_price"),
        (trade(acc=-1), "bad_volume"),
        (trade(volume=None), "bad_volume"),  # type: ignore[arg-type]
        (trade(day="2026010", recv_ns=1), "bad_timestamp"),
        (trade(day="20261305", recv_ns=1), "bad_timestamp"),
        (trade(time="25:00:00", recv_ns=1), "bad_timestamp"),
    ],
)
def test_unusable_trades_are_returned_for_quarantine(
    pipeline: Pipeline, metrics: Metrics, record: Record, reason: str
) -> None:
    result = pipeline.process_ticks([record, trade(time="090010", acc=1, volume=1)])
    assert len(result.records_to_archive) == 1
    assert [(q.record, q.reason) for q in result.quarantined] == [(record, reason)]
    # counted once, by the quarantine writer that stores it, not here
    assert sample(metrics, "observer_quarantined_records_total", reason=reason) == 0


def test_missing_business_date_is_quarantined(pipeline: Pipeline) -> None:
    record = trade()
    del record.data["business_date"]
    assert pipeline.process_ticks([record]).quarantined[0].reason == "bad_timestamp"


def test_order_book_records_pass_with_market(pipeline: Pipeline) -> None:
    book = Record("scalp", "sim", "H0STASP0", "005930", {"ask1": 70_100}, 1, raw="x")
    stranger = Record("scalp", "sim", "H0STASP0", "999999", {"ask1": 1}, 1, raw="x")
    result = pipeline.process_ticks([book, stranger])
    assert result.records_to_archive == [book, stranger]
    assert book.data["market"] == "KOSPI" and book.flags == []
    assert stranger.flags == [NOT_IN_UNIVERSE]


def test_nextrade_trades_skip_the_krx_session_check(pipeline: Pipeline) -> None:
    record = trade(time="193000", tr_id="H0NXCNT0")
    pipeline.process_ticks([record])
    assert record.flags == [] and record.data["session"] is None


def test_swing_quotes(pipeline: Pipeline, metrics: Metrics) -> None:
    records = [
        quote("005930", 70_000, 1_000, upper_limit=91_000, lower_limit=49_000),
        quote("091990", 3_000, 50, at="2026-01-05T15:25:00"),  # below the 4,000 minimum
        quote("035720", 60_000, 10),  # above 40,000 * 1.3
        quote("005930", 70_000, 900, at="2026-01-05T10:05:00"),  # volume went back
        quote("999999", 5_000, 1, at="2026-01-05T19:00:00", market="KOSDAQ"),
        quote("005930", 0),
    ]
    result = pipeline.process_swing(records)
    assert result.records_to_archive == records[:5]
    assert [q.reason for q in result.quarantined] == ["bad_price"]
    assert [r.flags for r in records[:5]] == [
        [],
        [BELOW_MIN_PRICE],
        [OUTSIDE_PRICE_LIMIT],
        [ACC_VOLUME_DECREASED],
        [NOT_IN_UNIVERSE],
    ]
    assert [r.data["session"] for r in records[:5]] == [
        "regular",
        "closing_auction",
        "regular",
        "regular",
        None,
    ]
    assert records[0].data["tick_size"] == 100 and records[1].data["tick_size"] == 5
    assert records[4].data["market"] == "KOSDAQ"  # the quote's own market is kept
    assert records[0].data["market"] == "KOSPI"
    assert sample(metrics, "observer_records_flagged_total", flag=BELOW_MIN_PRICE) == 1


def test_swing_limits_from_the_quote_win(pipeline: Pipeline) -> None:
    record = quote("005930", 95_000, upper_limit=100_000, lower_limit=60_000)
    pipeline.process_swing([record])
    assert record.flags == []  # the quote's own band, not the universe base price
