"""Record checks that need no history: tick grid, price limits, timestamps.

Failing records are kept with a quality flag (``Record.flags``); only records that cannot be
used at all (no symbol, no price, no volume, no readable timestamp) are returned for quarantine
with a reason. Nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final

from typing_extensions import TypeIs

from observer.clock import KST, KST_OFFSET_S, NS_PER_S

# Quality flags (kept records).
OFF_TICK_GRID: Final = "off_tick_grid"
OUTSIDE_PRICE_LIMIT: Final = "outside_price_limit"
OUTSIDE_SESSION: Final = "outside_session"
RECV_SKEW: Final = "recv_skew"
ACC_VOLUME_DECREASED: Final = "acc_volume_decreased"
DUPLICATE: Final = "duplicate"
VOLUME_MISMATCH: Final = "volume_mismatch"
NOT_IN_UNIVERSE: Final = "not_in_universe"
BELOW_MIN_PRICE: Final = "below_min_price"
FLAGS: Final = (
    OFF_TICK_GRID,
    OUTSIDE_PRICE_LIMIT,
    OUTSIDE_SESSION,
    RECV_SKEW,
    ACC_VOLUME_DECREASED,
    DUPLICATE,
    VOLUME_MISMATCH,
    NOT_IN_UNIVERSE,
    BELOW_MIN_PRICE,
)
# Quarantine reasons (unusable records).
MISSING_SYMBOL: Final = "missing_symbol"
BAD_PRICE: Final = "bad_price"
BAD_VOLUME: Final = "bad_volume"
BAD_TIMESTAMP: Final = "bad_timestamp"

# KRX tick sizes since 2023-01-25 (KOSPI and KOSDAQ): (price below, tick).
TICK_TABLE: Final = (
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
)
TOP_TICK: Final = 1_000
FUND_TICK: Final = 5  # ETFs and ETNs
LIMIT_PERCENT: Final = 30
SECONDS_PER_DAY: Final = 86_400

SessionBounds = Sequence[tuple[str, int, int]]


@dataclass(frozen=True, slots=True)
class CheckLimits:
    """Tolerances of the timestamp checks."""

    session_tolerance_seconds: int = 60
    max_recv_skew_seconds: float = 10.0


def tick_size(price: int, fund: bool = False) -> int:
    """The KRX tick size at ``price`` (``fund``: ETF or ETN, always 5 KRW)."""
    if fund:
        return FUND_TICK
    for below, tick in TICK_TABLE:
        if price < below:
            return tick
    return TOP_TICK


def on_tick_grid(price: int, fund: bool = False) -> bool:
    """True when ``price`` is a multiple of its tick size."""
    return price % tick_size(price, fund) == 0


def price_limits(base_price: int) -> tuple[int, int]:
    """The +/-30 % daily band around ``base_price`` as (lowest, highest) allowed price."""
    return (
        -((-base_price * (100 - LIMIT_PERCENT)) // 100),
        (base_price * (100 + LIMIT_PERCENT)) // 100,
    )


def within_limits(price: int, base_price: int) -> bool:
    """True when ``price`` is inside the +/-30 % band of ``base_price`` (exact integer math)."""
    return price * 100 >= base_price * (100 - LIMIT_PERCENT) and price * 100 <= base_price * (
        100 + LIMIT_PERCENT
    )


def positive_int(value: object) -> TypeIs[int]:
    """An int (not a bool) above zero."""
    return type(value) is int and value > 0


def non_negative_int(value: object) -> TypeIs[int]:
    """An int (not a bool), zero or more."""
    return type(value) is int and value >= 0


def seconds_of_day(hhmmss: Any) -> int | None:
    """``"HHMMSS"`` as seconds after midnight, or None when it is not such a time."""
    if type(hhmmss) is not str or len(hhmmss) != 6 or not hhmmss.isdigit():
        return None
    h, m, s = int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:])
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def parse_business_date(text: Any) -> date | None:
    """``"YYYYMMDD"`` as a date, or None."""
    if type(text) is not str or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def midnight_ns(day: date) -> int:
    """00:00 KST of ``day`` as epoch nanoseconds."""
    return int(datetime.combine(day, time(0), KST).timestamp()) * NS_PER_S


def kst_day_and_second(epoch_ns: int) -> tuple[int, int]:
    """(days since the epoch in KST, seconds after KST midnight) of an instant."""
    local_s = epoch_ns // NS_PER_S + KST_OFFSET_S
    return local_s // SECONDS_PER_DAY, local_s % SECONDS_PER_DAY


def session_of(second: int, bounds: SessionBounds, tolerance: int) -> tuple[str | None, bool]:
    """The session name at ``second`` and whether it lies within ``tolerance`` of a session.

    The name is the session containing the instant, else the one within the tolerance (a print
    at 15:30:00 belongs to the closing auction), else None.
    """
    near: str | None = None
    for name, start, end in bounds:
        if start <= second < end:
            return name, True
        if near is None and start - tolerance <= second <= end + tolerance:
            near = name
    return near, near is not None
