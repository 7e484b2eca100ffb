"""Tick sizes, price limits and the time helpers."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observer.pipeline.ticks import (
    kst_day_and_second,
    midnight_ns,
    on_tick_grid,
    parse_business_date,
    price_limits,
    seconds_of_day,
    session_of,
    tick_size,
    within_limits,
)


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        (1, 1),
        (1_999, 1),
        (2_000, 5),
        (4_995, 5),
        (5_000, 10),
        (19_990, 10),
        (20_000, 50),
        (49_950, 50),
        (50_000, 100),
        (199_900, 100),
        (200_000, 500),
        (499_500, 500),
        (500_000, 1_000),
        (1_234_000, 1_000),
    ],
)
def test_krx_tick_table(price: int, tick: int) -> None:
    assert tick_size(price) == tick
    assert on_tick_grid(price)


def test_funds_trade_in_fives() -> None:
    assert tick_size(35_000, fund=True) == 5
    assert tick_size(1_500, fund=True) == 5
    assert on_tick_grid(35_005, fund=True)
    assert not on_tick_grid(35_005)
    assert not on_tick_grid(1_502, fund=True)


def test_off_grid_prices() -> None:
    assert not on_tick_grid(2_001)
    assert not on_tick_grid(70_050)
    assert not on_tick_grid(250_100)


def test_price_limits_are_thirty_percent() -> None:
    assert price_limits(10_000) == (7_000, 13_000)
    assert price_limits(10_001) == (7_001, 13_001)  # 7000.7 up, 13001.3 down
    assert within_limits(13_000, 10_000) and within_limits(7_000, 10_000)
    assert not within_limits(13_001, 10_000) and not within_limits(6_999, 10_000)


@given(st.integers(min_value=1, max_value=5_000_000))
def test_tick_grid_properties(price: int) -> None:
    tick = tick_size(price)
    floor = price - price % tick
    assert tick_size(floor) == tick and on_tick_grid(floor)  # brackets start on their grid
    assert tick_size(price + 1) >= tick  # the table never shrinks as prices rise


@given(st.integers(min_value=1, max_value=10_000_000))
def test_price_limits_match_within_limits(base: int) -> None:
    low, high = price_limits(base)
    assert within_limits(low, base) and within_limits(high, base)
    assert not within_limits(low - 1, base) and not within_limits(high + 1, base)


def test_time_helpers() -> None:
    assert seconds_of_day("090001") == 9 * 3600 + 1
    assert seconds_of_day("235959") == 86_399
    for bad in ("9:00:01", "240000", "096000", "0900", 90001, None, "09000a"):
        assert seconds_of_day(bad) is None
    assert parse_business_date("20260105") == date(2026, 1, 5)
    for bad in ("20261305", "2026-01-05", 20260105, ""):
        assert parse_business_date(bad) is None
    midnight = midnight_ns(date(2026, 1, 5))
    day_number, second = kst_day_and_second(midnight + 3_600 * 10**9 + 5)
    assert second == 3_600
    assert date(1970, 1, 1).toordinal() + day_number == date(2026, 1, 5).toordinal()


def test_session_of_uses_tolerance() -> None:
    bounds = (("regular", 32_400, 55_200), ("closing_auction", 55_200, 55_800))
    assert session_of(32_400, bounds, 60) == ("regular", True)
    assert session_of(55_200, bounds, 60) == ("closing_auction", True)
    assert session_of(55_800, bounds, 60) == ("closing_auction", True)  # 15:30:00 print
    assert session_of(55_861, bounds, 60) == (None, False)
    assert session_of(32_350, bounds, 60) == ("regular", True)
    assert session_of(32_350, bounds, 0) == (None, False)
