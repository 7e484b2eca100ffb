"""The simulator's time-and-sales TR (FHPST01060000, inquire-time-itemconclusion).

Trades come from the issue-day's tape (:mod:`observer.sim.tape`), the same trades the
WebSocket sends. A page holds :data:`PAGE_ROWS` trades at or before ``FID_INPUT_HOUR_1``
(HHMMSS), newest first; the answer's ``tr_cont`` header is ``M`` while older trades remain and
``D`` on the last page. The next page is asked for with the request header ``tr_cont: N``
(continuing after the oldest trade served to this app key for this issue and hour) or by asking
again with the oldest time seen. Trades that fell out of the tape's reach are not served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from observer.clock import NS_PER_S
from observer.pipeline.ticks import midnight_ns, seconds_of_day
from observer.sim.market import SimMarket
from observer.sim.tape import TradeTape
from observer.sim.wire import time_sales_row, time_sales_summary

PAGE_ROWS = 30
MORE, LAST = "M", "D"


@dataclass(slots=True)
class _Cursor:
    hour: str
    oldest_acml_vol: int


class TimeSalesDesk:
    """Pages of today's trades per issue, with a continuation cursor per app key and issue."""

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self._cursors: dict[tuple[str, str], _Cursor] = {}

    def answer(self, code: str, hour: str, app_key: str, cont: str) -> tuple[dict[str, Any], str]:
        """(``output1``/``output2`` of one page, the ``tr_cont`` header to answer with)."""
        state = self.market.tape(code)
        tape = state.tape or TradeTape(0)
        ns, _p, _v, acml = tape.columns()[:4]
        stop = int(np.searchsorted(ns, self._cutoff_ns(state.day, hour), side="left"))
        cursor = self._cursors.get((app_key, code))
        if cont == "N" and cursor is not None and cursor.hour == hour:
            stop = min(stop, int(np.searchsorted(acml, cursor.oldest_acml_vol, side="left")))
        begin = max(0, stop - PAGE_ROWS)
        rows = tape.rows(begin, stop)
        if rows:
            self._cursors[(app_key, code)] = _Cursor(hour, rows[-1].acml_vol)
        body = {
            "output1": time_sales_summary(state),
            "output2": [time_sales_row(state, row) for row in rows],
        }
        return body, MORE if begin > 0 else LAST

    def _cutoff_ns(self, day: date, hour: str) -> int:
        """The first instant after the second ``hour`` (HHMMSS, KST) of ``day``."""
        second = seconds_of_day(hour)
        if second is None:
            return self.market.clock.now_ns() + 1
        return midnight_ns(day) + (second + 1) * NS_PER_S
