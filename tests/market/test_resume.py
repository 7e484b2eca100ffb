"""Tagging the service's downtime gaps for repair, and when an earlier day was cut short."""

from __future__ import annotations

from datetime import datetime

from observer.clock import KST, NS_PER_S, kst_iso
from observer.config.settings import Settings
from observer.market.calendar import MarketCalendar
from observer.market.resume import (
    PREVIOUS_DAY,
    is_down_window,
    streaming_cut_short,
    tag_downtime,
)
from observer.metrics import Metrics
from observer.pipeline.record import Record, system_record

from .test_runtime_e2e import SCHEDULE


def ns(when: datetime) -> int:
    return int(when.timestamp() * NS_PER_S)


def down(symbol: str, day: str | None, scope: str = "symbol") -> Record:
    now = ns(datetime(2026, 1, 6, 9, 30, tzinfo=KST))
    return system_record(
        "gap", now, "sim", symbol, scope=scope, reason="service_down",
        start=kst_iso(ns(datetime(2026, 1, 5, 10, 0, tzinfo=KST))), end=kst_iso(now),
        business_date=day, acc_volume_from=10 if day else None,
    )  # fmt: skip


def test_today_waits_an_earlier_day_is_unrepairable_a_stream_gap_is_left_alone() -> None:
    metrics = Metrics()
    today, earlier = down("005930", "20260106"), down("000660", "20260105")
    no_trade = down("035720", None)  # no trade archived: the start's day counts
    stream = down("", None, scope="stream")
    settled = tag_downtime([today, earlier, no_trade, stream], "20260106", metrics)
    assert is_down_window(today) and today.data["repair"] == "pending"
    assert [(r.symbol, r.data["outcome"], r.data["reason"]) for r in settled] == [
        ("000660", "unrepairable", PREVIOUS_DAY), ("035720", "unrepairable", PREVIOUS_DAY)
    ]  # fmt: skip
    assert settled[0].data["gap_ids"] == [earlier.data["gap_id"]]
    assert "gap_id" not in stream.data
    counted = metrics.registry.get_sample_value(
        "observer_gap_repairs_total", {"outcome": "unrepairable"}
    )
    assert counted == 2


def test_streaming_cut_short_by_the_last_record(make_settings: object) -> None:
    settings: Settings = make_settings(OBSERVER_SESSION_SCHEDULE=SCHEDULE)  # type: ignore[operator]
    cut_short = streaming_cut_short(MarketCalendar(settings), ["regular", "closing_auction"])
    day = datetime(2026, 1, 5, tzinfo=KST)  # scalp streaming ends at 09:10
    assert cut_short("20260105", ns(day.replace(hour=9, minute=4)))
    assert not cut_short("20260105", ns(day.replace(hour=9, minute=9, second=30)))
    assert not cut_short("20260104", ns(day.replace(hour=9, minute=4)))  # a Sunday
    assert not cut_short("garbage!", 0)
