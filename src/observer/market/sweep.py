"""Track A: sweep the whole universe with multi-symbol quotes on a fixed interval.

Every ``OBSERVER_SWING_INTERVAL_SECONDS`` of the regular session the :class:`SweepScheduler`
starts one sweep: the universe in calls of 30 symbols through the account's rate limiter, one
``swing`` record per quoted symbol with its own receive time and the sweep's ``sweep_id`` (its
start time in ns), then a ``sweep`` system event. A sweep still running when the next one is due
is never started twice: the due sweep is skipped and recorded as a ``gap`` (scope ``sweep``).
A sweep that quoted less than the whole universe records a ``partial_sweep`` gap (pipeline);
a sweep the archive refused (disk guard pause, write error) is recorded as an
``archive_refused`` gap with the next sweep the archive takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from observer.clock import NS_PER_S, Clock, kst_iso
from observer.exceptions import ObserverError
from observer.kis.quotes import NO_BID_ASK
from observer.market.outlet import RecordOutlet
from observer.market.sources import QUOTE_CALLS_IN_FLIGHT, QuoteSource, gather_quotes
from observer.metrics import Metrics
from observer.pipeline.gaps import MISSED_SWEEP, SWEEP_TR_ID, sweep_gap
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
MULTI_QUOTE_TR_ID = SWEEP_TR_ID
SINGLE_QUOTE_TR_ID = "FHKST01010100"  # the one-symbol fallback, which says so in its flags
REFUSED_REASON = "archive_refused"


@dataclass(slots=True)
class SweepResult:
    """One finished sweep."""

    sweep_id: int
    started: str
    duration_seconds: float
    universe: int
    quoted: int
    calls: int
    errors: int
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return self.quoted / self.universe if self.universe else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "started": self.started,
            "duration_seconds": round(self.duration_seconds, 3),
            "universe": self.universe,
            "quoted": self.quoted,
            "calls": self.calls,
            "errors": self.errors,
            "coverage": round(self.coverage, 4),
        }


@dataclass(eq=False, repr=False)
class SwingSweeper:
    """Runs single sweeps: quotes -> pipeline -> the archive, with metrics and an event."""

    clock: Clock
    metrics: Metrics
    source: QuoteSource
    outlet: RecordOutlet
    pipeline: Pipeline
    _: KW_ONLY
    source_label: str
    concurrency: int = QUOTE_CALLS_IN_FLIGHT
    last: SweepResult | None = field(init=False, default=None)
    sweeps: int = field(init=False, default=0)
    # code -> name from the master file (the universe)
    names: Mapping[str, str] = field(init=False, default_factory=dict)
    _skipped: bool = field(init=False, default=False)
    # sweeps the archive refused (start, end ns)
    _refused: list[tuple[int, int]] = field(init=False, default_factory=list)

    def note_skipped(self) -> None:
        """A due sweep was skipped and recorded; the next sweep must not record it again."""
        self._skipped = True

    async def sweep(self, symbols: Sequence[str]) -> SweepResult:
        """Quote every symbol once and archive the records, the gaps and a ``sweep`` event."""
        sweep_id = self.clock.now_ns()
        started = self.clock.monotonic()
        harvest = await gather_quotes(
            self.source, symbols, self.clock, concurrency=self.concurrency
        )
        duration = self.clock.monotonic() - started
        label = self.source_label
        records: list[Record] = []
        quotes: dict[str, dict[str, Any]] = {}
        for recv_ns, quote in harvest.quotes:
            data = {**quote.data, "sweep_id": sweep_id}
            if data.get("name") is None and quote.symbol in self.names:
                data["name"] = self.names[quote.symbol]  # inquire-price has no name
            quotes[quote.symbol] = data
            flags = list(getattr(quote, "flags", ()))
            tr_id = SINGLE_QUOTE_TR_ID if NO_BID_ASK in flags else MULTI_QUOTE_TR_ID
            record = Record("swing", label, tr_id, quote.symbol, data, recv_ns, quote.raw)
            record.flags.extend(flags)
            records.append(record)
        result = SweepResult(
            sweep_id=sweep_id,
            started=kst_iso(sweep_id),
            duration_seconds=duration,
            universe=len(symbols),
            quoted=len(quotes),
            calls=harvest.calls,
            errors=harvest.errors,
            quotes=quotes,
        )
        end_ns = self.clock.now_ns()
        processed = self.pipeline.process_swing(records)
        if self._skipped:
            self.pipeline.sweeps.pause()
            self._skipped = False
        missing = [s for s in symbols if s not in quotes]
        gaps = self.pipeline.sweeps.sweep_finished(
            sweep_id, end_ns, len(quotes), len(symbols), missing
        )
        event = system_record("sweep", end_ns, label, **result.summary())
        m = self.metrics
        m.sweep_seconds.observe(duration)
        m.sweep_calls.inc(harvest.calls)
        m.sweep_errors.inc(harvest.errors)
        m.sweep_coverage.set(result.coverage)
        lost = [sweep_gap(label, end_ns, s, e, REFUSED_REASON) for s, e in self._refused]
        try:
            await self.outlet.archive([*lost, *processed.records_to_archive, *gaps, event])
        except ObserverError:
            self._refused.append((sweep_id, end_ns))  # recorded once the archive takes records
            raise
        self._refused.clear()
        if lost:
            m.gaps.labels(REFUSED_REASON).inc(len(lost))
        await self.outlet.quarantine(processed.quarantined)
        self.last = result
        self.sweeps += 1
        log.info(
            "sweep %d: %d/%d symbols in %.2f s, %d calls, %d errors",
            self.sweeps,
            result.quoted,
            result.universe,
            duration,
            result.calls,
            result.errors,
        )
        return result

    def status(self) -> dict[str, Any]:
        """The ``sweep`` section of /status."""
        last = self.last
        return {
            "last_started": last.started if last else None,
            "last_duration_seconds": round(last.duration_seconds, 3) if last else None,
            "coverage": round(last.coverage, 4) if last else None,
            "calls": last.calls if last else 0,
            "errors": last.errors if last else 0,
            "sweeps_today": self.sweeps,
        }


class SweepScheduler:
    """Starts a sweep every interval until a deadline, never two at once."""

    def __init__(
        self,
        sweeper: SwingSweeper,
        clock: Clock,
        interval_seconds: float,
        on_result: Callable[[SweepResult], Awaitable[None]] | None = None,
    ) -> None:
        self.sweeper = sweeper
        self.clock = clock
        self.interval = interval_seconds
        self.on_result = on_result
        self.missed = 0
        self._running: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None and not self._running.done()

    async def _one(self, symbols: Sequence[str]) -> None:
        try:
            result = await self.sweeper.sweep(symbols)
            if self.on_result is not None:
                await self.on_result(result)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed")

    def due_times(self, start: datetime, end: datetime, now: datetime) -> Iterator[datetime]:
        """``start``, ``start + interval``, ... before ``end``; joining late, one sweep at once
        and then the grid again from the first point at least half an interval away."""
        step = timedelta(seconds=self.interval)
        due = start
        if now > start:
            if now < end:
                yield now
            steps = math.ceil((now - start) / step)
            due = start + steps * step
            if due - now < step / 2:
                due += step
        while due < end:
            yield due
            due += step

    async def run(
        self, symbols: Callable[[], Sequence[str]], start: datetime, end: datetime
    ) -> None:
        """Sweep on the interval grid from ``start`` while before ``end``."""
        try:
            for due in self.due_times(start, end, self.clock.now()):
                await self.clock.sleep_until(due)
                if self.busy:
                    await self._skip(due)
                else:
                    self._running = asyncio.create_task(self._one(list(symbols())))
            if self._running is not None:
                await self._running
        finally:
            if self._running is not None and not self._running.done():
                self._running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._running

    async def _skip(self, due: datetime) -> None:
        self.missed += 1
        start_ns = int(due.timestamp() * NS_PER_S)
        end_ns = start_ns + int(self.interval * NS_PER_S)
        log.warning("sweep due at %s skipped: the previous sweep is still running", due)
        label = self.sweeper.source_label
        gap = sweep_gap(label, self.clock.now_ns(), start_ns, end_ns, MISSED_SWEEP, missed_sweeps=1)
        self.sweeper.metrics.gaps.labels(MISSED_SWEEP).inc()
        self.sweeper.note_skipped()
        await self.sweeper.outlet.archive([gap])
