"""Building blocks for pipeline tests: a real calendar and crafted H0STCNT0 / swing records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from observer.clock import KST, NS_PER_S
from observer.market.calendar import MarketCalendar
from observer.metrics import Metrics
from observer.pipeline.guard import SymbolProfile
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record

DAY = "20260105"  # a Monday, an ordinary trading day
UNIVERSE = {
    "005930": SymbolProfile("KOSPI", base_price=70_000),
    "035720": SymbolProfile("KOSPI", base_price=40_000),
    "091990": SymbolProfile("KOSDAQ"),
    "069500": SymbolProfile("KOSPI", fund=True, base_price=35_000),
}


def kst_ns(day: str, hhmmss: str, extra_ms: int = 0) -> int:
    when = datetime.strptime(day + hhmmss, "%Y%m%d%H%M%S").replace(tzinfo=KST)
    return int(when.timestamp()) * NS_PER_S + extra_ms * 1_000_000


def trade(
    symbol: str = "005930",
    time: str = "090001",
    price: int = 70_000,
    volume: int = 10,
    acc: int = 10,
    count: int = 1,
    *,
    day: str = DAY,
    recv_ns: int | None = None,
    tr_id: str = "H0STCNT0",
    **extra: Any,
) -> Record:
    """One H0STCNT0 trade; ``count`` is sell_count + buy_count (all on the sell side)."""
    data: dict[str, Any] = {
        "trade_time": time,
        "price": price,
        "trade_volume": volume,
        "acc_volume": acc,
        "sell_count": count,
        "buy_count": 0,
        "business_date": day,
        **extra,
    }
    received = recv_ns if recv_ns is not None else kst_ns(day, time, 150)
    return Record("scalp", "sim", tr_id, symbol, data, received, raw="raw")


def quote(
    symbol: str = "005930",
    price: int = 70_000,
    acc: int = 1_000,
    *,
    at: str = "2026-01-05T10:00:00",
    **extra: Any,
) -> Record:
    """One swing quote received at ``at`` (KST)."""
    recv = int(datetime.fromisoformat(at).replace(tzinfo=KST).timestamp()) * NS_PER_S
    data: dict[str, Any] = {"price": price, "acc_volume": acc, "sweep_id": recv, **extra}
    return Record("swing", "sim", "FHKST11300006", symbol, data, recv)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def calendar(make_settings: Any) -> MarketCalendar:
    return MarketCalendar(make_settings())


@pytest.fixture
def pipeline(calendar: MarketCalendar, metrics: Metrics, make_settings: Any) -> Pipeline:
    built = Pipeline.from_settings(make_settings(), calendar, metrics)
    built.set_universe(UNIVERSE)
    return built


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """The current value of a counter sample (0 when absent)."""
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


TradeFactory = Callable[..., Record]


@pytest.fixture
def pipeline_factory(calendar: MarketCalendar, make_settings: Any) -> Callable[[], Pipeline]:
    """Fresh pipelines sharing one calendar (hypothesis runs many examples per test)."""
    settings = make_settings()
    shared = Metrics()

    def build() -> Pipeline:
        built = Pipeline.from_settings(settings, calendar, shared)
        built.set_universe(UNIVERSE)
        return built

    return build
