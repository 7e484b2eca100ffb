"""Track B triggers: interval deltas, scoring and hysteresis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observer.market.triggers import (
    Candidate,
    HysteresisSelector,
    activity_between,
    score_sweeps,
)


def quote(
    acc_volume: int, price: int = 10_000, high: int = 10_000, low: int = 10_000
) -> dict[str, Any]:
    return {
        "acc_volume": acc_volume,
        "price": price,
        "high": high,
        "low": low,
        "prev_close": 10_000,
    }


def test_interval_volume_is_the_delta_not_the_cumulative_figure() -> None:
    prev = {"A": quote(1_000_000), "B": quote(0)}
    cur = {"A": quote(1_000_100), "B": quote(50_000)}
    ranked = score_sweeps(prev, cur)
    assert [c.symbol for c in ranked] == ["B", "A"]
    assert ranked[0].activity.interval_volume == 50_000
    assert ranked[1].activity.interval_volume == 100


def test_first_sweep_counts_volume_since_the_open_and_new_day_resets() -> None:
    assert activity_between("A", None, quote(700)).interval_volume == 700
    # cumulative volume fell: a new business day started, count from zero
    assert activity_between("A", quote(5_000), quote(300)).interval_volume == 300


def test_price_change_and_range_feed_the_score() -> None:
    prev = {s: quote(1_000) for s in "ABC"}
    cur = {
        "A": quote(1_100),
        "B": quote(1_100, price=11_000, high=11_000),
        "C": quote(1_100, price=10_000, high=10_500, low=9_500),
    }
    ranked = score_sweeps(prev, cur)
    by_symbol = {c.symbol: c for c in ranked}
    assert by_symbol["B"].activity.price_change == pytest.approx(0.1)
    assert by_symbol["C"].activity.range_ratio == pytest.approx(0.1)
    assert by_symbol["A"].score < by_symbol["C"].score < by_symbol["B"].score
    assert [c.rank for c in ranked] == [1, 2, 3]


def test_garbage_fields_do_not_raise() -> None:
    act = activity_between("A", {"acc_volume": "x"}, {"acc_volume": None, "price": "?"})
    assert act.interval_volume == 0
    assert act.price_change == 0.0


def cand(symbol: str, rank: int, score: float) -> Candidate:
    return Candidate(symbol, score, rank, activity_between(symbol, None, quote(0)))


def test_hysteresis_enters_high_and_leaves_low() -> None:
    sel = HysteresisSelector(2, enter_score=0.8, exit_score=0.5, exit_rank_factor=2.0)
    # X at rank 3 with 0.9: outside the capacity, does not enter
    ranked = [cand("A", 1, 0.95), cand("B", 2, 0.7), cand("X", 3, 0.9)]
    assert sel.select(ranked, current=[]) == ["A"]
    # B already holds a slot: 0.7 >= exit 0.5 and rank 2 <= 4, it stays
    assert sel.select(ranked, current=["B"]) == ["B", "A"]
    # a holder at rank 4 with 0.6 stays; at rank 5 (beyond 2x capacity) it leaves
    assert sel.select([cand("A", 1, 0.9), cand("H", 4, 0.6)], current=["H"]) == ["H", "A"]
    assert sel.select([cand("A", 1, 0.9), cand("H", 5, 0.6)], current=["H"]) == ["A"]
    # below the exit score it leaves even at a good rank
    assert sel.select([cand("H", 1, 0.4)], current=["H"]) == []


def test_holders_not_quoted_this_sweep_are_kept() -> None:
    sel = HysteresisSelector(2)
    assert sel.select([cand("A", 1, 0.9)], current=["Z"]) == ["Z", "A"]


def test_exit_score_above_enter_score_is_refused() -> None:
    with pytest.raises(ValueError):
        HysteresisSelector(3, enter_score=0.3, exit_score=0.5)


@settings(deadline=None)  # a loaded machine must not fail a logic test
@given(
    st.dictionaries(
        st.text("0123456789", min_size=6, max_size=6),
        st.tuples(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 10**6)),
        max_size=40,
    )
)
def test_scores_are_bounded_and_ranks_are_a_permutation(data: dict[str, Any]) -> None:
    prev = {s: quote(a) for s, (a, _b, _p) in data.items()}
    cur = {s: quote(b, price=p, high=p, low=p) for s, (_a, b, p) in data.items()}
    ranked = score_sweeps(prev, cur)
    assert sorted(c.rank for c in ranked) == list(range(1, len(data) + 1))
    assert all(0.0 <= c.score <= 1.0 for c in ranked)
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
