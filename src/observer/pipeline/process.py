"""The pipeline for one stream of records: validate -> guard -> enrich -> gap check.

``Pipeline.process_ticks(records)`` (track B) and ``Pipeline.process_swing(records)``
(track A) return a :class:`ProcessResult`: the records to archive (every usable record, flags
set, data enriched in place), the gap records to archive on the system stream, and the unusable
records with a reason for the quarantine. Counted here: ``observer_records_flagged_total{flag}``
and ``observer_gaps_total{reason}``; the caller must not count them again. Quarantined records
are counted where they are written (``QuarantineWriter``), once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from observer.clock import NS_PER_S
from observer.config.settings import Settings
from observer.kis.tr.h0stcnt0 import LAYOUT as TRADE_LAYOUT
from observer.metrics import Metrics
from observer.pipeline.enrich import enrich
from observer.pipeline.gaps import SweepGapTracker, TickGapDetector, disconnect_gaps
from observer.pipeline.guard import SymbolProfile, UniverseGuard
from observer.pipeline.record import Record
from observer.pipeline.ticks import (
    ACC_VOLUME_DECREASED,
    BAD_PRICE,
    BAD_TIMESTAMP,
    BAD_VOLUME,
    MISSING_SYMBOL,
    OFF_TICK_GRID,
    OUTSIDE_PRICE_LIMIT,
    OUTSIDE_SESSION,
    RECV_SKEW,
    CheckLimits,
    SessionBounds,
    kst_day_and_second,
    midnight_ns,
    non_negative_int,
    parse_business_date,
    positive_int,
    seconds_of_day,
    session_of,
    tick_size,
    within_limits,
)

KRX_TRADE_TR_IDS = frozenset({"H0STCNT0"})
TRADE_TR_IDS = frozenset(TRADE_LAYOUT.tr_ids)  # declared once, in the TR table
EPOCH = date(1970, 1, 1)
_DAY_CACHE_MAX = 64


class SessionTable(Protocol):
    """Where the pipeline learns a day's sessions (``MarketCalendar`` is one)."""

    def session_bounds(self, day: date) -> SessionBounds:
        """(name, start, end) in seconds after KST midnight; empty when closed."""
        ...


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that cannot be used, and why."""

    record: Record
    reason: str


@dataclass(slots=True)
class ProcessResult:
    """What one batch produced: records to archive, gap records, records to quarantine."""

    records_to_archive: list[Record] = field(default_factory=list)
    gaps: list[Record] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


class Pipeline:
    """Validation, guard, enrichment and gap detection for one source."""

    def __init__(
        self,
        sessions: SessionTable,
        metrics: Metrics,
        *,
        source: str,
        min_price: int = 0,
        swing_interval_seconds: float = 300,
        limits: CheckLimits | None = None,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.limits = limits or CheckLimits()
        self.guard = UniverseGuard({}, min_price)
        self.ticks = TickGapDetector(source)
        self.sweeps = SweepGapTracker(swing_interval_seconds, source, on_gaps=self._count_gaps)
        self._skew_ns = int(self.limits.max_recv_skew_seconds * NS_PER_S)
        self._by_date: dict[str, tuple[int, SessionBounds] | None] = {}
        self._by_day: dict[int, SessionBounds] = {}
        self._swing_acc: dict[str, tuple[int, int]] = {}
        self._seconds: dict[str, int] = {}
        self._counters: dict[tuple[str, str], Any] = {}
        self.gaps_total = 0
        self.source = source

    @property
    def source(self) -> str:
        """The ``source`` of the gap records this pipeline makes (kis, sim, replay)."""
        return self._source

    @source.setter
    def source(self, value: str) -> None:
        self._source = value
        self.ticks.source = value
        self.sweeps.source = value

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: SessionTable, metrics: Metrics
    ) -> Pipeline:
        """A pipeline with the source, minimum price, sweep interval and tolerances of settings."""
        return cls(
            sessions,
            metrics,
            source=settings.source,
            min_price=settings.min_price,
            swing_interval_seconds=settings.swing_interval_seconds,
            limits=CheckLimits(
                session_tolerance_seconds=settings.trade_time_tolerance_seconds,
                max_recv_skew_seconds=settings.max_recv_skew_seconds,
            ),
        )

    def set_universe(self, profiles: Mapping[str, SymbolProfile]) -> None:
        """Today's universe (symbol -> profile); used for the guard, enrichment and limits."""
        self.guard.profiles = profiles

    # -- track B ---------------------------------------------------------------------------
    def process_ticks(self, records: Iterable[Record]) -> ProcessResult:
        """Check, enrich and gap-check a batch of scalp records (in arrival order)."""
        return self._sort_out(records, self._tick)

    def _sort_out(
        self, records: Iterable[Record], check: Callable[[Record, list[Record]], str | None]
    ) -> ProcessResult:
        """Archive each record ``check`` passes (it may add gaps), quarantine the others."""
        result = ProcessResult()
        for record in records:
            reason = check(record, result.gaps)
            if reason is None:
                result.records_to_archive.append(record)
            else:
                result.quarantined.append(Quarantined(record, reason))
        self._count(result)
        return result

    def _tick(self, record: Record, gaps: list[Record]) -> str | None:
        """Validate one scalp record: a quarantine reason, or None when it is kept."""
        data = record.data
        if not record.symbol:
            return MISSING_SYMBOL
        if record.tr_id not in TRADE_TR_IDS:
            profile = self.guard.member(record)
            if profile is not None and data.get("market") is None:
                data["market"] = profile.market
            return None
        price = data.get("price")
        if not positive_int(price):
            return BAD_PRICE
        acc_volume, trade_volume = data.get("acc_volume"), data.get("trade_volume")
        if not non_negative_int(acc_volume) or not non_negative_int(trade_volume):
            return BAD_VOLUME
        business_date = data.get("business_date")
        if not isinstance(business_date, str):
            return BAD_TIMESTAMP
        day = self._day_of(business_date)
        second = self._second_of(data.get("trade_time"))
        if day is None or second is None:
            return BAD_TIMESTAMP
        trade_ns = day[0] + second * NS_PER_S
        self._check_trade(record, price, day[1], second, trade_ns)
        sell, buy = data.get("sell_count"), data.get("buy_count")
        count = sell + buy if type(sell) is int and type(buy) is int else None
        flag, gap = self.ticks.observe(
            record.tr_id,
            record.symbol,
            business_date,
            acc_volume,
            trade_volume,
            count,
            trade_ns,
            record.recv_ns,
        )
        if flag is not None:
            record.flags.append(flag)
        if gap is not None:
            gaps.append(gap)
        return None

    def _check_trade(
        self, record: Record, price: int, bounds: SessionBounds, second: int, trade_ns: int
    ) -> None:
        """Guard, grid, limits, session and skew checks of a usable trade, then enrichment."""
        flags = record.flags
        profile = self.guard.member(record)
        tick = _grid_and_limits(flags, price, profile)
        session, near = session_of(second, bounds, self.limits.session_tolerance_seconds)
        if not near and record.tr_id in KRX_TRADE_TR_IDS:
            flags.append(OUTSIDE_SESSION)
        if abs(record.recv_ns - trade_ns) > self._skew_ns:
            flags.append(RECV_SKEW)
        enrich(record, profile, session, tick)

    def _second_of(self, trade_time: Any) -> int | None:
        if not isinstance(trade_time, str):
            return None
        second = self._seconds.get(trade_time)
        if second is None:
            second = seconds_of_day(trade_time)
            if second is not None:
                self._seconds[trade_time] = second  # at most 86,400 distinct valid times
        return second

    def _day_of(self, business_date: str) -> tuple[int, SessionBounds] | None:
        if business_date in self._by_date:
            return self._by_date[business_date]
        day = parse_business_date(business_date)
        entry = None if day is None else (midnight_ns(day), self.sessions.session_bounds(day))
        if len(self._by_date) >= _DAY_CACHE_MAX:
            self._by_date.clear()
        self._by_date[business_date] = entry
        return entry

    # -- track A ---------------------------------------------------------------------------
    def process_swing(self, records: Iterable[Record]) -> ProcessResult:
        """Check, guard and enrich a batch of swing quotes (the session is the receive time's)."""
        return self._sort_out(records, lambda record, _gaps: self._swing(record))

    def _swing(self, record: Record) -> str | None:
        data = record.data
        if not record.symbol:
            return MISSING_SYMBOL
        price = data.get("price")
        if not positive_int(price):
            return BAD_PRICE
        acc_volume = data.get("acc_volume")
        if not non_negative_int(acc_volume):
            return BAD_VOLUME
        flags = record.flags
        profile = self.guard.member(record)
        self.guard.check_price(record, price)
        tick = tick_size(price, profile is not None and profile.fund)
        if price % tick:
            flags.append(OFF_TICK_GRID)
        if not _within_quote_limits(price, data, profile):
            flags.append(OUTSIDE_PRICE_LIMIT)
        day_number, second = kst_day_and_second(record.recv_ns)
        session, _ = session_of(second, self._bounds_of_day(day_number), 0)
        last = self._swing_acc.get(record.symbol)
        if last is not None and last[0] == day_number and acc_volume < last[1]:
            flags.append(ACC_VOLUME_DECREASED)
        else:
            self._swing_acc[record.symbol] = (day_number, acc_volume)
        enrich(record, profile, session, tick)
        return None

    def _bounds_of_day(self, day_number: int) -> SessionBounds:
        bounds = self._by_day.get(day_number)
        if bounds is None:
            bounds = self.sessions.session_bounds(EPOCH + timedelta(days=day_number))
            if len(self._by_day) >= _DAY_CACHE_MAX:
                self._by_day.clear()
            self._by_day[day_number] = bounds
        return bounds

    # -- connections -----------------------------------------------------------------------
    def disconnect_gaps(
        self,
        start_ns: int,
        end_ns: int,
        reason: str,
        symbols: Iterable[str] | None = None,
        tr_id: str = "H0STCNT0",
    ) -> list[Record]:
        """One gap per symbol (default: every symbol seen) for a window the stream was blind."""
        chosen = self.ticks.symbols() if symbols is None else symbols
        gaps = disconnect_gaps(chosen, start_ns, end_ns, reason, source=self.source, tr_id=tr_id)
        self._count_gaps(gaps)
        return gaps

    def new_day(self) -> None:
        """Forget per-day state (baselines, sweep timing); call once between trading days."""
        self.ticks.forget()
        self.sweeps.pause()
        self._swing_acc.clear()

    # -- counting --------------------------------------------------------------------------
    def _count(self, result: ProcessResult) -> None:
        for record in result.records_to_archive:
            for flag in record.flags:
                self._counter("flag", flag).inc()
        self._count_gaps(result.gaps)

    def _count_gaps(self, gaps: list[Record]) -> None:
        self.gaps_total += len(gaps)
        for gap in gaps:
            self._counter("gap", str(gap.data.get("reason"))).inc()

    def _counter(self, kind: str, label: str) -> Any:
        key = (kind, label)
        child = self._counters.get(key)
        if child is None:
            family = self.metrics.flagged if kind == "flag" else self.metrics.gaps
            child = self._counters[key] = family.labels(label)
        return child


def _within_quote_limits(price: int, data: dict[str, Any], profile: SymbolProfile | None) -> bool:
    upper, lower = data.get("upper_limit"), data.get("lower_limit")
    if positive_int(upper) and positive_int(lower):
        return bool(lower <= price <= upper)
    base = data.get("base_price")
    if not positive_int(base) and profile is not None:
        base = profile.base_price
    return not positive_int(base) or within_limits(price, base)


def _grid_and_limits(flags: list[str], price: int, profile: SymbolProfile | None) -> int:
    """Flag a price off the tick grid or outside the base price band; returns the tick size."""
    tick = tick_size(price, profile is not None and profile.fund)
    if price % tick:
        flags.append(OFF_TICK_GRID)
    base = profile.base_price if profile is not None else None
    if base and not within_limits(price, base):
        flags.append(OUTSIDE_PRICE_LIMIT)
    return tick
