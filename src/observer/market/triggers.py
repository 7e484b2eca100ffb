"""Track B triggers: which symbols deserve a real-time slot, from track A sweeps.

Two consecutive sweeps give, per symbol, the activity *in the interval* between them: the
volume traded (the ``acc_volume`` delta, never the cumulative figure), the price change and the
day's range relative to the previous close. Each measure is turned into a percentile rank over
the universe and the ranks are blended into one score in ``[0, 1]``.

:class:`HysteresisSelector` turns scores into a wish list without flapping: a symbol enters
only when it ranks within the capacity *and* scores at least ``enter_score``; once in, it stays
while it ranks within ``exit_rank_factor`` times the capacity and scores at least
``exit_score``. The slot manager adds the minimum dwell time and the always-on list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VOLUME_WEIGHT = 0.5
MOVE_WEIGHT = 0.3
RANGE_WEIGHT = 0.2


@dataclass(frozen=True, slots=True)
class Activity:
    """What one symbol did between two sweeps."""

    symbol: str
    interval_volume: int
    price_change: float
    range_ratio: float


@dataclass(frozen=True, slots=True)
class Candidate:
    """A symbol's blended score and its rank (1 = most active) in one sweep."""

    symbol: str
    score: float
    rank: int
    activity: Activity


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def activity_between(
    symbol: str, prev: Mapping[str, Any] | None, cur: Mapping[str, Any]
) -> Activity:
    """The activity of ``symbol`` from sweep ``prev`` (None: since the open) to sweep ``cur``."""
    acc_now = _int(cur.get("acc_volume"))
    acc_before = _int(prev.get("acc_volume")) if prev is not None else 0
    # A smaller cumulative volume means a new business day: count from zero again.
    volume = acc_now - acc_before if acc_now >= acc_before else acc_now
    price = _int(cur.get("price"))
    reference = _int(prev.get("price")) if prev is not None else 0
    if reference <= 0:
        reference = _int(cur.get("prev_close")) or _int(cur.get("base_price"))
    change = abs(price - reference) / reference if reference > 0 and price > 0 else 0.0
    base = _int(cur.get("prev_close")) or _int(cur.get("base_price")) or price
    high, low = _int(cur.get("high")), _int(cur.get("low"))
    range_ratio = (high - low) / base if base > 0 and high >= low > 0 else 0.0
    return Activity(symbol, max(volume, 0), change, range_ratio)


def _percentiles(values: Sequence[float]) -> list[float]:
    """Percentile rank of each value in ``values`` (ties share the lower rank; 0 stays 0)."""
    n = len(values)
    if n == 0:
        return []
    order = sorted(range(n), key=values.__getitem__)
    ranks = [0.0] * n
    position = 0
    while position < n:
        end = position
        while end + 1 < n and values[order[end + 1]] == values[order[position]]:
            end += 1
        pct = position / (n - 1) if n > 1 else 1.0
        for index in order[position : end + 1]:
            ranks[index] = pct if values[index] > 0 else 0.0
        position = end + 1
    return ranks


def score_sweeps(
    prev: Mapping[str, Mapping[str, Any]], cur: Mapping[str, Mapping[str, Any]]
) -> list[Candidate]:
    """Score every symbol of sweep ``cur`` against sweep ``prev``; best first, ranks from 1."""
    activities = [activity_between(symbol, prev.get(symbol), data) for symbol, data in cur.items()]
    volumes = _percentiles([float(a.interval_volume) for a in activities])
    moves = _percentiles([a.price_change for a in activities])
    ranges = _percentiles([a.range_ratio for a in activities])
    scored = sorted(
        (
            (VOLUME_WEIGHT * v + MOVE_WEIGHT * m + RANGE_WEIGHT * r, a)
            for a, v, m, r in zip(activities, volumes, moves, ranges, strict=True)
        ),
        key=lambda pair: (-pair[0], pair[1].symbol),
    )
    return [
        Candidate(activity.symbol, round(score, 6), rank, activity)
        for rank, (score, activity) in enumerate(scored, start=1)
    ]


class HysteresisSelector:
    """Chooses the wanted symbols from scored candidates, entering high and leaving low."""

    def __init__(
        self,
        capacity: int,
        *,
        enter_score: float = 0.35,
        exit_score: float = 0.2,
        exit_rank_factor: float = 2.0,
    ) -> None:
        if exit_score > enter_score:
            raise ValueError("exit_score must not exceed enter_score")
        self.capacity = max(0, capacity)
        self.enter_score = enter_score
        self.exit_score = exit_score
        self.exit_rank = max(self.capacity, int(self.capacity * exit_rank_factor))

    def keeps(self, candidate: Candidate) -> bool:
        """Whether a symbol that already holds a slot may keep it."""
        return candidate.rank <= self.exit_rank and candidate.score >= self.exit_score

    def admits(self, candidate: Candidate) -> bool:
        """Whether a symbol without a slot qualifies for one."""
        return candidate.rank <= self.capacity and candidate.score >= self.enter_score

    def select(self, candidates: Iterable[Candidate], current: Iterable[str]) -> list[str]:
        """The wish list: current holders that still qualify, then new entrants, best first.

        Current holders missing from ``candidates`` (not quoted this sweep) are kept: absence of
        data is not evidence of inactivity.
        """
        held = set(current)
        ranked = list(candidates)
        seen = {c.symbol for c in ranked}
        keep = [c.symbol for c in ranked if c.symbol in held and self.keeps(c)]
        keep.extend(sorted(held - seen))
        enter = [c.symbol for c in ranked if c.symbol not in held and self.admits(c)]
        return keep + enter
