"""The KRX price grid: tick sizes, daily limits and the ladder of valid prices."""

from __future__ import annotations

# (upper bound exclusive, tick) since 2023-01-25, KOSPI and KOSDAQ alike.
TICK_TABLE: tuple[tuple[int, int], ...] = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
)
LIMIT_RATE = 0.30
FUND_TICK = 5  # ETFs and ETNs


def tick_size(price: int, fund: bool = False) -> int:
    """The tick size at ``price`` (ETFs/ETNs always 5)."""
    if fund:
        return FUND_TICK
    for bound, tick in TICK_TABLE:
        if price < bound:
            return tick
    return 1_000


def round_to_tick(price: float, fund: bool = False, *, up: bool = False) -> int:
    """The nearest valid price below (or above, with ``up``) ``price``."""
    value = max(1, int(price))
    tick = tick_size(value, fund)
    down = value - value % tick
    if up and down < price:
        return down + tick
    return down


def price_limits(base: int, fund: bool = False) -> tuple[int, int]:
    """(lower, upper) daily limits: +/-30 % of the base price, on the tick grid."""
    upper = round_to_tick(base * (1 + LIMIT_RATE), fund)
    lower = round_to_tick(base * (1 - LIMIT_RATE), fund, up=True)
    return lower, upper


def price_ladder(lower: int, upper: int, fund: bool = False) -> list[int]:
    """Every valid price from ``lower`` to ``upper`` inclusive, ascending."""
    if fund:
        return list(range(lower, upper + 1, FUND_TICK))
    prices: list[int] = []
    price = lower
    for bound, tick in (*TICK_TABLE, (upper + 1_001, 1_000)):
        if price >= bound:
            continue
        prices.extend(range(price, min(bound, upper + 1), tick))
        price = prices[-1] + tick if prices else price
        if price > upper:
            break
    return prices
