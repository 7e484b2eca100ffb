"""Gap detection: every hole in the data becomes a ``gap`` system record.

- Ticks (:class:`TickGapDetector`): per (tr_id, symbol) and business date, ``acc_volume`` rises
  by exactly ``trade_volume`` with each trade and ``sell_count + buy_count`` by one. A larger
  volume jump is a gap whose ``missed_volume`` is ``jump - trade_volume``; a count jump of more
  than one (with a consistent volume) is a gap of ``missed_trades``. The first trade of a symbol
  and day only sets the baseline (subscribing mid-day is not a gap). A volume that goes back is
  flagged ``acc_volume_decreased``, a repeated one ``duplicate``, a rise smaller than the trade
  ``volume_mismatch``; the baseline only ever moves forward.
- Disconnects (:func:`disconnect_gaps`): one gap per registered symbol for the blind window.
- Track A (:class:`SweepGapTracker`): a sweep that quoted less than the whole universe, and an
  interval in which no sweep started.

A gap record: ``system_record("gap", ..., scope="symbol"|"sweep", start=ISO, end=ISO,
reason=..., missed_volume=int|None, tr_id=...)`` plus the detail fields named below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from observer.clock import NS_PER_S, kst_iso
from observer.pipeline.record import Record, system_record
from observer.pipeline.ticks import ACC_VOLUME_DECREASED, DUPLICATE, VOLUME_MISMATCH

# Gap reasons.
VOLUME_JUMP = "acc_volume_jump"
TRADE_COUNT_JUMP = "trade_count_jump"
PARTIAL_SWEEP = "partial_sweep"
MISSED_SWEEP = "missed_sweep"
SWEEP_TR_ID = "FHKST11300006"
MAX_LISTED_SYMBOLS = 100


class _Last:
    """The newest accepted trade of one (tr_id, symbol)."""

    __slots__ = ("acc_volume", "business_date", "count", "trade_ns")

    def __init__(self, business_date: str, acc_volume: int, count: int | None, trade_ns: int):
        self.business_date = business_date
        self.acc_volume = acc_volume
        self.count = count
        self.trade_ns = trade_ns


class TickGapDetector:
    """Finds missed trades from the cumulative volume and trade count of each symbol."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._last: dict[tuple[str, str], _Last] = {}

    def symbols(self) -> set[str]:
        """Every symbol seen so far (for disconnect gaps)."""
        return {symbol for _, symbol in self._last}

    def last_acc_volume(self, tr_id: str, symbol: str) -> tuple[str, int] | None:
        """(business date, cumulative volume) of the newest accepted trade, if any."""
        last = self._last.get((tr_id, symbol))
        return None if last is None else (last.business_date, last.acc_volume)

    def seed(
        self, tr_id: str, symbol: str, business_date: str, acc_volume: int, trade_ns: int
    ) -> None:
        """Start from a trade archived before this process (a restart on the same day): the
        symbol's first trade then reveals what the downtime missed as a volume jump."""
        if (tr_id, symbol) not in self._last:
            self._last[(tr_id, symbol)] = _Last(business_date, acc_volume, None, trade_ns)

    def forget(self) -> None:
        """Drop all baselines (a new day, or a replay starting over)."""
        self._last.clear()

    def observe(
        self,
        tr_id: str,
        symbol: str,
        business_date: str,
        acc_volume: int,
        trade_volume: int,
        count: int | None,
        trade_ns: int,
        recv_ns: int,
    ) -> tuple[str | None, Record | None]:
        """Check one trade against the previous one: (quality flag or None, gap or None)."""
        key = (tr_id, symbol)
        last = self._last.get(key)
        if last is None or last.business_date != business_date:
            self._last[key] = _Last(business_date, acc_volume, count, trade_ns)
            return None, None
        jump = acc_volume - last.acc_volume
        if jump == trade_volume:
            gap = None
            if count is not None and last.count is not None and count - last.count > 1:
                gap = self._gap(symbol, tr_id, last, trade_ns, recv_ns, TRADE_COUNT_JUMP, 0)
                gap.data["missed_trades"] = count - last.count - 1
            last.acc_volume, last.count, last.trade_ns = acc_volume, count, trade_ns
            return None, gap
        if jump > trade_volume:
            gap = self._gap(
                symbol, tr_id, last, trade_ns, recv_ns, VOLUME_JUMP, jump - trade_volume
            )
            # the missed trades' cumulative volumes: above the first, up to the second
            gap.data["acc_volume_from"] = last.acc_volume
            gap.data["acc_volume_to"] = acc_volume - trade_volume
            if count is not None and last.count is not None:
                gap.data["missed_trades"] = max(0, count - last.count - 1)
            last.acc_volume, last.count, last.trade_ns = acc_volume, count, trade_ns
            return None, gap
        if jump < 0:
            return ACC_VOLUME_DECREASED, None
        if jump == 0:
            return DUPLICATE, None
        last.acc_volume, last.count, last.trade_ns = acc_volume, count, trade_ns
        return VOLUME_MISMATCH, None

    def _gap(
        self,
        symbol: str,
        tr_id: str,
        last: _Last,
        trade_ns: int,
        recv_ns: int,
        reason: str,
        missed_volume: int,
    ) -> Record:
        return gap_record(
            self.source, recv_ns, last.trade_ns, trade_ns, reason,
            scope="symbol", symbol=symbol, missed_volume=missed_volume, tr_id=tr_id,
            business_date=last.business_date,
        )  # fmt: skip


def disconnect_gaps(
    symbols: Iterable[str],
    start_ns: int,
    end_ns: int,
    reason: str,
    *,
    source: str,
    tr_id: str = "H0STCNT0",
) -> list[Record]:
    """One gap per symbol for a window in which the stream was blind (missed volume unknown)."""
    return [
        gap_record(source, end_ns, start_ns, end_ns, reason, scope="symbol", symbol=s, tr_id=tr_id)
        for s in sorted(set(symbols))
    ]


class SweepGapTracker:
    """Track A: gaps for partial sweeps and for intervals in which no sweep started.

    Call :meth:`pause` whenever sweeping stops by design (end of the sweeping sessions, idle
    days) so the pause is not taken for missed sweeps.
    """

    def __init__(
        self,
        interval_seconds: float,
        source: str,
        grace: float = 0.5,
        *,
        on_gaps: Callable[[list[Record]], None] | None = None,
    ) -> None:
        self.interval_ns = int(interval_seconds * NS_PER_S)
        self.late_ns = int(interval_seconds * (1 + grace) * NS_PER_S)
        self.source = source
        self.on_gaps = on_gaps  # told of every gap this tracker makes (the pipeline counts them)
        self._last_start_ns: int | None = None

    def pause(self) -> None:
        """Sweeping stops on purpose; the next sweep does not count the pause as missed."""
        self._last_start_ns = None

    def sweep_finished(
        self,
        started_ns: int,
        ended_ns: int,
        quoted: int,
        universe: int,
        missing: Sequence[str] = (),
    ) -> list[Record]:
        """Gaps for one finished sweep: the missed interval before it and its own shortfall."""
        gaps: list[Record] = []
        last = self._last_start_ns
        if last is not None and started_ns - last > self.late_ns:
            missed = max(1, round((started_ns - last) / self.interval_ns) - 1)
            gap = self._gap(last, started_ns, ended_ns, MISSED_SWEEP)
            gap.data["missed_sweeps"] = missed
            gaps.append(gap)
        if last is None or started_ns > last:
            self._last_start_ns = started_ns
        if quoted < universe:
            gap = self._gap(started_ns, ended_ns, ended_ns, PARTIAL_SWEEP)
            gap.data["quoted"] = quoted
            gap.data["universe"] = universe
            gap.data["coverage"] = round(quoted / universe, 4) if universe else 0.0
            gap.data["missing"] = sorted(missing)[:MAX_LISTED_SYMBOLS]
            gaps.append(gap)
        if self.on_gaps is not None:
            self.on_gaps(gaps)
        return gaps

    def _gap(self, start_ns: int, end_ns: int, recv_ns: int, reason: str) -> Record:
        return sweep_gap(self.source, recv_ns, start_ns, end_ns, reason)


def sweep_gap(
    source: str, recv_ns: int, start_ns: int, end_ns: int, reason: str, **extra: Any
) -> Record:
    """A ``gap`` system record for track A (scope ``sweep``)."""
    return gap_record(
        source, recv_ns, start_ns, end_ns, reason, scope="sweep", tr_id=SWEEP_TR_ID, **extra
    )


def gap_record(
    source: str,
    at_ns: int,
    start_ns: int,
    end_ns: int,
    reason: str,
    *,
    scope: str,
    symbol: str = "",
    missed_volume: int | None = None,
    tr_id: str | None = None,
    **extra: Any,
) -> Record:
    """A ``gap`` system record, the one shape every hole takes: its window as KST times, why,
    the volume known to be missed (None when unknown) and what else the caller knows."""
    return system_record(
        "gap",
        at_ns,
        source,
        symbol=symbol,
        scope=scope,
        start=kst_iso(start_ns),
        end=kst_iso(end_ns),
        reason=reason,
        missed_volume=missed_volume,
        tr_id=tr_id,
        **extra,
    )
