"""The KRX price grid: tick sizes, daily limits and the ladder of valid prices."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from observer.pipeline.ticks import FUND_TICK, TICK_TABLE, TOP_TICK, tick_size

LIMIT_RATE = 0.30


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
    for bound, tick in (*TICK_TABLE, (upper + TOP_TICK + 1, TOP_TICK)):
        if price >= bound:
            continue
        prices.extend(range(price, min(bound, upper + 1), tick))
        price = prices[-1] + tick if prices else price
        if price > upper:
            break
    return prices


class PriceGrid:
    """The valid prices between two limits, addressed by level (0 = the lower limit).

    Stored as a few arithmetic bands instead of a list of every price, so a universe of
    thousands of issues costs almost no memory.
    """

    def __init__(self, lower: int, upper: int, fund: bool = False) -> None:
        bands = (
            ((upper + FUND_TICK + 1, FUND_TICK),)
            if fund
            else (*TICK_TABLE, (upper + TOP_TICK + 1, TOP_TICK))
        )
        starts: list[int] = []
        firsts: list[int] = []
        ticks: list[int] = []
        level, price = 0, lower
        for bound, tick in bands:
            if price >= bound:
                continue
            stop = min(bound, upper + 1)
            count = (stop - price + tick - 1) // tick
            starts.append(level)
            firsts.append(price)
            ticks.append(tick)
            level += count
            price += count * tick
            if price > upper:
                break
        self.size = level
        self._starts = np.array(starts, dtype=np.int64)
        self._firsts = np.array(firsts, dtype=np.int64)
        self._ticks = np.array(ticks, dtype=np.int64)
        self._bands = list(zip(starts, firsts, ticks, strict=True))

    def price(self, level: int) -> int:
        """The price at ``level`` (clamped to the grid)."""
        level = min(max(level, 0), self.size - 1)
        for start, first, tick in reversed(self._bands):
            if level >= start:
                return first + (level - start) * tick
        raise AssertionError("unreachable: the first band starts at level 0")

    def prices(self, levels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Vectorised :meth:`price` for levels inside the grid."""
        band = np.searchsorted(self._starts, levels, side="right") - 1
        return self._firsts[band] + (levels - self._starts[band]) * self._ticks[band]

    def level(self, price: int) -> int:
        """The level of the highest grid price not above ``price``."""
        for start, first, tick in reversed(self._bands):
            if price >= first:
                return min(start + (price - first) // tick, self.size - 1)
        return 0
