"""The KRX price grid the simulator trades on (property-based)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from observer.pipeline.ticks import tick_size
from observer.sim.ticks import PriceGrid, price_ladder, price_limits, round_to_tick


@given(st.integers(min_value=100, max_value=2_000_000), st.booleans())
def test_limits_and_ladder_are_on_the_grid(raw: int, fund: bool) -> None:
    base = round_to_tick(raw, fund)
    assert base % tick_size(base, fund) == 0
    lower, upper = price_limits(base, fund)
    assert base * 0.7 <= lower <= base <= upper <= base * 1.3
    ladder = price_ladder(lower, upper, fund)
    assert ladder[0] == lower and ladder[-1] == upper and base in ladder
    for below, above in itertools.pairwise(ladder):
        assert above - below == tick_size(below, fund)
    grid = PriceGrid(lower, upper, fund)
    assert grid.size == len(ladder)
    assert grid.prices(np.arange(len(ladder), dtype=np.int64)).tolist() == ladder
    for level in (0, len(ladder) // 2, len(ladder) - 1):
        assert grid.price(level) == ladder[level]
        assert grid.level(ladder[level]) == level


def test_tick_table() -> None:
    table = {1_999: 1, 2_000: 5, 4_995: 5, 5_000: 10, 19_990: 10, 20_000: 50, 49_950: 50}
    table |= {50_000: 100, 199_900: 100, 200_000: 500, 499_500: 500, 500_000: 1_000}
    for price, tick in table.items():
        assert tick_size(price) == tick
        assert tick_size(price, fund=True) == 5
