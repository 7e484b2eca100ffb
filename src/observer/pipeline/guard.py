"""Universe membership and minimum price.

A record for a symbol outside today's universe is *kept* and flagged ``not_in_universe`` (it
was received, so the archive keeps it; consumers can filter on the flag). A swing record whose
price is below ``OBSERVER_MIN_PRICE`` is kept and flagged ``below_min_price``. The guard never
drops anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from observer.pipeline.record import Record
from observer.pipeline.ticks import BELOW_MIN_PRICE, NOT_IN_UNIVERSE


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """What the pipeline needs to know about one universe member."""

    market: str  # "KOSPI" or "KOSDAQ"
    fund: bool = False  # ETF or ETN (tick size 5)
    base_price: int | None = None  # today's base price, for the +/-30 % limit check


class UniverseGuard:
    """Flags records outside the universe or below the minimum price."""

    def __init__(self, profiles: Mapping[str, SymbolProfile], min_price: int) -> None:
        self.profiles = profiles
        self.min_price = min_price

    def member(self, record: Record) -> SymbolProfile | None:
        """The symbol's profile; flags the record ``not_in_universe`` when it has none."""
        profile = self.profiles.get(record.symbol)
        if profile is None:
            record.flags.append(NOT_IN_UNIVERSE)
        return profile

    def check_price(self, record: Record, price: int) -> None:
        """Flags ``below_min_price`` when ``price`` is under the minimum."""
        if price < self.min_price:
            record.flags.append(BELOW_MIN_PRICE)
