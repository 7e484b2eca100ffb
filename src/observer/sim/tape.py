"""The trade tape of one issue-day: every trade, in order, as the time-and-sales API serves it.

The tape is filled by the same :class:`~observer.sim.symbol_day.SymbolDay` whose trades feed the
WebSocket, so a trade on the tape and the same trade in an ``H0STCNT0`` frame carry the same
time, price, volume and cumulative volume. It keeps at most ``reach`` of the newest trades
(memory stays bounded, and a gap older than that is out of the API's reach, as with KIS).
Columns are numpy arrays kept in chunks; a query joins them once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
DEFAULT_REACH = 200_000
COLUMNS = ("ns", "price", "volume", "acml_vol", "ask", "bid", "buy_vol", "sell_vol")


class TapeRow(NamedTuple):
    """One trade on the tape and the cumulative state right after it."""

    ns: int
    price: int
    volume: int
    acml_vol: int
    ask: int
    bid: int
    buy_vol: int
    sell_vol: int


class TradeTape:
    """The newest ``reach`` trades of one issue-day, appended in chunks."""

    def __init__(self, reach: int = DEFAULT_REACH) -> None:
        self.reach = reach
        self._chunks: list[tuple[IntArray, ...]] = []
        self._rows = 0
        self.trimmed = 0  # trades that fell out of reach
        self._joined: tuple[IntArray, ...] | None = None

    def __len__(self) -> int:
        return self._rows

    def append(self, *columns: IntArray) -> None:
        """Add trades (one array per column of :data:`COLUMNS`, oldest first)."""
        count = len(columns[0])
        if count == 0:
            return
        self._chunks.append(tuple(np.asarray(c, dtype=np.int64) for c in columns))
        self._rows += count
        self._joined = None
        self._trim()

    def limit(self, reach: int) -> None:
        """Keep only the newest ``reach`` trades from now on (a shorter reach, for tests)."""
        self.reach = reach
        self._trim()

    def _trim(self) -> None:
        excess = self._rows - self.reach
        while excess > 0 and self._chunks:
            first = self._chunks[0]
            size = len(first[0])
            if size <= excess:
                self._chunks.pop(0)
                cut = size
            else:
                self._chunks[0] = tuple(c[excess:] for c in first)
                cut = excess
            self._rows -= cut
            self.trimmed += cut
            excess -= cut
        self._joined = None

    def columns(self) -> tuple[IntArray, ...]:
        """Every kept trade as one array per column, oldest first."""
        if self._joined is None:
            if not self._chunks:
                empty = np.zeros(0, dtype=np.int64)
                self._joined = tuple(empty for _ in COLUMNS)
            else:
                self._joined = tuple(
                    np.concatenate([chunk[i] for chunk in self._chunks])
                    for i in range(len(COLUMNS))
                )
                self._chunks = [self._joined]
        return self._joined

    def rows(self, begin: int, end: int) -> list[TapeRow]:
        """Rows ``begin`` to ``end`` (indexes into :meth:`columns`), newest first."""
        cols = self.columns()
        picked = [c[begin:end].tolist() for c in cols]
        return [TapeRow(*values) for values in zip(*picked, strict=True)][::-1]
