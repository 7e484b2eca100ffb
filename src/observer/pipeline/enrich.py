"""Enrichment: fields the archive line gains on the way through the pipeline.

- ``market``: ``KOSPI`` / ``KOSDAQ`` from the universe (kept when the record already has one,
  as swing quotes do; ``null`` for a symbol outside the universe);
- ``session``: the calendar session of the trade time (ticks) or the receive time (swing),
  ``null`` outside every session;
- ``tick_size``: the KRX tick size at the record's price.
"""

from __future__ import annotations

from observer.pipeline.guard import SymbolProfile
from observer.pipeline.record import Record


def enrich(record: Record, profile: SymbolProfile | None, session: str | None, tick: int) -> None:
    """Add ``market``, ``session`` and ``tick_size`` to ``record.data`` (in place)."""
    data = record.data
    if data.get("market") is None:
        data["market"] = profile.market if profile is not None else None
    data["session"] = session
    data["tick_size"] = tick
