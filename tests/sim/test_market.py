"""The synthetic market: deterministic, on the tick grid, within limits, consistent."""

from __future__ import annotations

from datetime import datetime, timedelta

from observer.clock import KST, ManualClock
from observer.pipeline.ticks import tick_size
from observer.sim.market import SimMarket
from observer.sim.symbol_day import TradeTick

DAY = datetime(2026, 11, 26, 9, 0, tzinfo=KST)


def _busiest(market: SimMarket) -> str:
    return min(market.issues, key=lambda issue: issue.rank).code


def _stream(seed: int, seconds: int, step: float) -> list[TradeTick]:
    clock = ManualClock(DAY)
    market = SimMarket(seed, clock, 300)
    code = _busiest(market)
    market.watch(code)
    ticks: list[TradeTick] = []
    elapsed = 0.0
    while elapsed < seconds:
        clock.advance(step)
        elapsed += step
        ticks.extend(market.take_trades(code)[1])
    return ticks


def test_universe_is_deterministic_and_varied() -> None:
    clock = ManualClock(DAY)
    first = SimMarket(7, clock, 2400).issues
    again = SimMarket(7, clock, 2400).issues
    other = SimMarket(8, clock, 2400).issues
    assert first == again
    assert [i.code for i in first] != [i.code for i in other]
    assert len({i.code for i in first}) == 2400
    assert all(len(i.code) == 6 and i.code.isdigit() for i in first)
    assert {i.market for i in first} == {"KOSPI", "KOSDAQ"}
    assert {"ST", "EF", "EN"} <= {i.group_code for i in first}
    assert any(i.is_spac for i in first) and any(i.is_preferred for i in first)
    assert any(i.halted for i in first) and any(i.administrative for i in first)
    assert any(i.liquidation for i in first)
    assert any(i.initial_price < 4000 for i in first)
    for issue in first:
        issue.name.encode("cp949")


def test_same_seed_and_date_give_the_same_trades_however_they_are_polled() -> None:
    coarse = _stream(3, 60, 7.0)
    fine = _stream(3, 60, 0.5)
    cut = min(len(coarse), len(fine))
    assert cut > 100
    assert coarse[:cut] == fine[:cut]
    assert _stream(4, 20, 1.0)[:50] != coarse[:50]


def test_prices_on_the_tick_grid_within_limits_and_cumulative_fields_exact() -> None:
    clock = ManualClock(DAY)
    market = SimMarket(5, clock, 200)
    code = _busiest(market)
    market.watch(code)
    clock.advance(120)
    state, ticks = market.take_trades(code)
    assert len(ticks) > 100
    fund = state.issue.fund
    previous = ticks[0]
    for tick in ticks:
        assert state.lower <= tick.price <= state.upper
        assert tick.price % tick_size(tick.price, fund) == 0
        assert tick.low <= tick.price <= tick.high
        assert tick.bid1 < tick.ask1
        assert tick.sell_count + tick.buy_count == previous.sell_count + previous.buy_count + (
            tick is not previous
        )
        if tick is not previous:
            assert tick.acml_vol == previous.acml_vol + tick.volume
            assert tick.acml_value == previous.acml_value + tick.price * tick.volume
        previous = tick
    assert state.acml_vol == ticks[-1].acml_vol


def test_quote_state_matches_the_streamed_trades() -> None:
    clock = ManualClock(DAY + timedelta(minutes=30))
    market = SimMarket(5, clock, 200)
    code = _busiest(market)
    market.watch(code)
    clock.advance(30)
    _, ticks = market.take_trades(code)
    state = market.state(code)
    assert ticks and state.acml_vol == ticks[-1].acml_vol
    assert state.price == ticks[-1].price
    assert state.acml_value == ticks[-1].acml_value


def test_no_trades_outside_sessions_or_on_closed_days() -> None:
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=KST)
    clock = ManualClock(saturday)
    market = SimMarket(5, clock, 100)
    assert market.business_day().isoformat() == "2026-11-27"
    assert market.calendar.session_at(saturday) is None
    clock.set(datetime(2026, 11, 30, 8, 45, tzinfo=KST))  # Monday, pre-open call auction
    code = _busiest(market)
    assert market.state(code).acml_vol == 0
    assert market.calendar.session_at(clock.now()) == "pre_open"
    clock.set(datetime(2026, 11, 30, 9, 0, 5, tzinfo=KST))
    assert market.state(code).acml_vol > 0
    assert market.state(code).session_code == "20"


def test_the_first_trading_day_of_the_year_opens_at_ten() -> None:
    clock = ManualClock(datetime(2027, 1, 4, 9, 45, tzinfo=KST))  # Monday, the year's first
    market = SimMarket(5, clock, 100)
    code = _busiest(market)
    assert market.calendar.session_at(clock.now()) == "pre_open"
    assert market.state(code).acml_vol == 0
    clock.set(datetime(2027, 1, 4, 10, 0, 5, tzinfo=KST))
    state = market.state(code)
    assert state.acml_vol > 0
    assert state.open_ns == int(datetime(2027, 1, 4, 10, 0, tzinfo=KST).timestamp()) * 10**9
