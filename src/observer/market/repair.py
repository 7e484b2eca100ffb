"""Gap repair: fetch the trades a gap missed from the time-and-sales API and archive them.

A trade's identity is (symbol, business date, cumulative volume). A volume-jump gap knows the
missed trades' cumulative volumes exactly: above ``acc_volume_from`` (the last trade received),
up to ``acc_volume_to`` (just before the trade that revealed the jump). The repairer pages back
through ``FHPST01060000`` from the gap's end towards its start and archives each trade in that
range as a ``scalp`` record with ``source`` ``backfill``, the fields the API gives and the rest
null, flagged ``partial``. Nothing in the range was received, so nothing received is duplicated.

A blind window (a disconnect, a silence) stays ``pending`` until the symbol trades again: the
first trade after it either reveals a volume jump (the window's outcome is that repair's) or
shows nothing was missed (``repaired``, no trade). A window still open when the session ends is
repaired from the window's end back to the last trade received.

Each gap record gets a ``gap_id`` and ``repair: "pending"`` before it is archived; the outcome
follows as a ``gap_repair`` system record naming the gap: ``repaired``, ``partial`` or
``unrepairable`` with the trades and volume recovered and the reason. Calls are background
calls of the app key's one limiter: they only take slots the sweep leaves free.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from observer.clock import NS_PER_S, Clock, kst_hhmmss
from observer.exceptions import ObserverError
from observer.kis.exceptions import KisError
from observer.kis.time_sales import TimeSale, TimeSalesPage
from observer.kis.tr.h0stcnt0 import ROWS
from observer.market.slots import SCALP_TR_ID
from observer.metrics import Metrics
from observer.pipeline.gaps import VOLUME_JUMP
from observer.pipeline.record import Record, system_record

if TYPE_CHECKING:  # the outlet's gap list reads this module's outcome words
    from observer.market.outlet import RecordOutlet

log = logging.getLogger(__name__)

BACKFILL_SOURCE = "backfill"
PARTIAL_FLAG = "partial"
REPAIRED, PARTIAL, UNREPAIRABLE, PENDING = "repaired", "partial", "unrepairable", "pending"
OUTCOMES = (REPAIRED, PARTIAL, UNREPAIRABLE, PENDING)
# Windows whose missed trades the next trade cannot reveal: repaired only when the gap names
# the missed cumulative volumes (archive_refused of the streamer); service_down windows are
# tagged at start-up and handed in by add_window.
UNTRACKED_REASONS = frozenset({"archive_refused", "service_down", "partial_sweep", "missed_sweep"})
QUEUE_MAX = 10_000
MAX_ATTEMPTS = 3
RETRY_DELAY_S = 5.0  # real seconds before a failed repair is tried again
MAX_PAGES = 2_000
STOP_WAIT_S = 3.0  # real seconds the job in flight gets to end once the session has ended
_FIELD_NAMES = tuple(name for _pos, _code, name, _parse in ROWS)


class TimeSalesSource(Protocol):
    """What the repairer needs of a KIS REST client."""

    async def time_sales(
        self, symbol: str, hour: str, *, cont: bool = False, background: bool = True
    ) -> TimeSalesPage: ...


@dataclass(slots=True)
class RepairJob:
    """The trades to fetch for one or more gaps of one symbol."""

    gap_ids: list[str]
    symbol: str
    business_date: str
    start_ns: int
    end_ns: int
    acc_from: int | None  # exclusive: the last trade received before the gap
    acc_to: int | None  # inclusive: just before the trade received after it (None: unknown)
    attempts: int = 0
    found: dict[int, TimeSale] = field(default_factory=dict)
    settled: bool = False  # its outcome is recorded


@dataclass(eq=False, repr=False)
class GapRepairer:
    """One app key's repair queue and worker; see the module docstring."""

    rest: TimeSalesSource
    clock: Clock
    outlet: RecordOutlet
    metrics: Metrics
    _: KW_ONLY
    source_label: str
    last_acc_volume: Callable[[str, str], tuple[str, int] | None]
    queue: asyncio.Queue[RepairJob] = field(
        init=False, default_factory=lambda: asyncio.Queue(maxsize=QUEUE_MAX)
    )
    outcomes: Counter[str] = field(init=False, default_factory=Counter)
    trades_recovered: int = field(init=False, default=0)
    calls: int = field(init=False, default=0)
    rate_limited: int = field(init=False, default=0)
    # symbol -> its open blind windows; (symbol, day) -> the trade numbers already backfilled
    _windows: dict[str, list[tuple[str, Record]]] = field(init=False, default_factory=dict)
    _archived: dict[tuple[str, str], set[int]] = field(init=False, default_factory=dict)
    _active: RepairJob | None = field(init=False, default=None)
    _stopping: bool = field(init=False, default=False)
    _stop_reason: str = field(init=False, default="session ended")
    _serial: int = field(init=False, default=0)

    @property
    def waiting(self) -> bool:
        """True while some blind window waits for its symbol's next trade."""
        return bool(self._windows)

    # -- before the archive: ids, windows, jobs -----------------------------------------------
    def note(self, gaps: Iterable[Record], traded: Iterable[str]) -> list[Record]:
        """Tag the batch's gap records and queue their repairs; returns outcome records due now.

        ``traded`` are the symbols that traded in the batch (after its gaps).
        """
        due: list[Record] = []
        for gap in gaps:
            due.extend(self._note_gap(gap))
        for symbol in set(traded):
            windows = self._windows.pop(symbol, None)
            for gap_id, window in windows or ():
                due.append(
                    self._outcome([gap_id], window.symbol, REPAIRED, 0, 0, "no trade missed")
                )
        return due

    def add_window(self, gap_id: str, gap: Record) -> None:
        """Take a pending blind window tagged elsewhere (the service's own downtime).

        The symbol's next trade settles it as :meth:`note` settles a disconnect window; the
        trade detector's baseline must hold the symbol's last archived trade for a jump to show.
        """
        self._windows.setdefault(gap.symbol, []).append((gap_id, gap))
        self.outcomes[PENDING] += 1

    def _note_gap(self, gap: Record) -> list[Record]:
        data = gap.data
        acc_from, acc_to = data.get("acc_volume_from"), data.get("acc_volume_to")
        exact = type(acc_from) is int and type(acc_to) is int  # the missed trades are known
        if (
            data.get("scope") != "symbol"
            or not gap.symbol
            or (data.get("reason") in UNTRACKED_REASONS and not exact)
        ):
            return []
        self._serial += 1
        gap_id = f"{gap.symbol}-{gap.recv_ns}-{self._serial}"
        data["gap_id"], data["repair"] = gap_id, PENDING
        self.outcomes[PENDING] += 1
        jump = data.get("reason") == VOLUME_JUMP  # it settles the windows before it
        if exact or jump:  # a volume jump, or trades the archive refused
            windows = [gid for gid, _w in self._windows.pop(gap.symbol, [])] if jump else []
            job = RepairJob(
                [gap_id, *windows], gap.symbol, str(data.get("business_date") or ""),
                _ns(data.get("start")), _ns(data.get("end")),
                data.get("acc_volume_from"), data.get("acc_volume_to"),
            )  # fmt: skip
            return self._enqueue(job)
        if data.get("missed_volume") is None:  # a blind window: the next trade tells
            self._windows.setdefault(gap.symbol, []).append((gap_id, gap))
            return []
        return [self._outcome([gap_id], gap.symbol, UNREPAIRABLE, 0, 0, "no volume to match")]

    def _enqueue(self, job: RepairJob) -> list[Record]:
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            return [self._outcome(job.gap_ids, job.symbol, UNREPAIRABLE, 0, 0, "queue full")]
        return []

    # -- the worker -------------------------------------------------------------------------
    async def run(self) -> None:
        """Repair queued gaps one at a time until stopped."""
        while True:
            job = await self.queue.get()
            self._active = job
            try:
                await self._repair(job)
            finally:
                self._active = None

    async def _repair(self, job: RepairJob) -> None:
        try:
            complete, reason = await self._fetch(job)
        except KisError as exc:
            job.attempts += 1
            if job.attempts < MAX_ATTEMPTS and not self._stopping:
                log.warning("repair of %s failed (%s); trying again", job.symbol, exc)
                await self.clock.sleep(RETRY_DELAY_S * self.clock.speed)
                refused = self._enqueue(job)
                if refused:
                    await self.outlet.archive(refused)
                return
            complete, reason = False, f"{type(exc).__name__}: {exc}"
        await self._settle(job, complete, reason)

    async def _fetch(self, job: RepairJob) -> tuple[bool, str]:
        """Page back from the gap's end; (all missed trades found, why not)."""
        hour, cont = kst_hhmmss(job.end_ns), False
        start = kst_hhmmss(job.start_ns)
        oldest: int | None = None
        for _page in range(MAX_PAGES):
            if self._stopping:
                return False, self._stop_reason
            page = await self.rest.time_sales(job.symbol, hour, cont=cont, background=True)
            self.calls += 1
            self.metrics.gap_repair_calls.inc()
            reached = self._take(job, page.sales, start)
            if reached or self._complete(job):
                return True, ""
            if not page.sales or not page.more:
                if job.acc_from is None:  # no trade received before: the day's start is the end
                    return True, ""
                return False, "older than the API reaches"
            if oldest is not None and page.sales[-1].acc_volume >= oldest:
                if not cont:
                    return False, "paging made no progress"
                hour, cont = page.sales[-1].time, False  # ask again from the oldest time seen
            else:
                cont = True
            oldest = page.sales[-1].acc_volume
        return False, "too many pages"

    def _take(self, job: RepairJob, sales: Sequence[TimeSale], start: str) -> bool:
        """Keep the page's trades in range; True once the page reached the gap's start."""
        for sale in sales:  # newest first
            acc = sale.acc_volume
            if job.acc_to is not None and acc > job.acc_to:
                continue
            if job.acc_from is not None and acc <= job.acc_from:
                return True
            if job.acc_from is None and sale.time < start:
                return True
            job.found[acc] = sale
        return False

    @staticmethod
    def _complete(job: RepairJob) -> bool:
        if job.acc_from is None or job.acc_to is None:
            return False
        return sum(s.volume for s in job.found.values()) == job.acc_to - job.acc_from

    async def _settle(self, job: RepairJob, complete: bool, reason: str) -> None:
        if job.settled:
            return
        job.settled = True
        records = self._backfill(job)
        volume = sum(r.data["trade_volume"] for r in records)
        exact = job.acc_to is not None and job.acc_from is not None
        if complete and (not exact or self._complete(job)):
            outcome = REPAIRED
        elif complete:
            outcome, reason = PARTIAL, "the fetched trades do not add up to the missed volume"
        else:
            outcome = PARTIAL if job.found else UNREPAIRABLE
        records.append(
            self._outcome(job.gap_ids, job.symbol, outcome, len(records), volume, reason)
        )
        try:
            await self.outlet.archive(records)
        except ObserverError as exc:
            log.error(
                "repair of %s: the archive refused %d records: %s", job.symbol, len(records), exc
            )
            return
        self.trades_recovered += len(records) - 1
        self.metrics.gap_trades_recovered.inc(len(records) - 1)

    def _backfill(self, job: RepairJob) -> list[Record]:
        day = job.business_date
        if not day:
            known = self.last_acc_volume(SCALP_TR_ID, job.symbol)
            day = known[0] if known else self.clock.now().strftime("%Y%m%d")
        seen = self._archived.setdefault((job.symbol, day), set())
        now_ns = self.clock.now_ns()
        records = []
        for acc in sorted(job.found):
            if acc in seen:
                continue
            seen.add(acc)
            records.append(backfill_record(job.symbol, day, job.found[acc], now_ns))
        return records

    def _outcome(
        self, gap_ids: list[str], symbol: str, outcome: str, trades: int, volume: int, reason: str
    ) -> Record:
        self.outcomes[PENDING] -= len(gap_ids)
        self.outcomes[outcome] += len(gap_ids)
        self.metrics.gap_repairs.labels(outcome).inc(len(gap_ids))
        if outcome != REPAIRED:
            log.warning("gap repair of %s: %s (%s)", symbol, outcome, reason)
        return outcome_record(
            self.clock.now_ns(), self.source_label, symbol, gap_ids, outcome, trades, volume, reason
        )

    # -- the end ---------------------------------------------------------------------------
    async def finish(self, grace_seconds: float, reason: str = "session ended") -> None:
        """At the session's end: windows still open are repaired, then what is left is cut.

        Queued repairs get ``grace_seconds`` (real) to finish; the one in flight then gets up to
        :data:`STOP_WAIT_S` to end at a page boundary; what is left ends with ``reason``.
        """
        for symbol, windows in list(self._windows.items()):
            known = self.last_acc_volume(SCALP_TR_ID, symbol)
            start = min(_ns(w.data.get("start")) for _g, w in windows)
            end = max(_ns(w.data.get("end")) for _g, w in windows)
            job = RepairJob(
                [g for g, _w in windows], symbol, known[0] if known else "", start, end,
                known[1] if known else None, None,
            )  # fmt: skip
            refused = self._enqueue(job)
            if refused:
                await self.outlet.archive(refused)
        self._windows.clear()
        deadline = self.clock.monotonic() + grace_seconds * self.clock.speed
        while (not self.queue.empty() or self._active) and self.clock.monotonic() < deadline:
            await self.clock.sleep(min(0.05 * self.clock.speed, deadline - self.clock.monotonic()))
        self._stopping, self._stop_reason = True, reason
        settle_by = self.clock.monotonic() + STOP_WAIT_S * self.clock.speed
        while self._active is not None and self.clock.monotonic() < settle_by:
            await self.clock.sleep(0.02 * self.clock.speed)  # the job in flight ends itself
        cut: list[Record] = []
        stuck = self._active
        if stuck is not None and not stuck.settled:  # a call that did not return in time
            stuck.settled = True
            cut.append(self._outcome(stuck.gap_ids, stuck.symbol, UNREPAIRABLE, 0, 0, reason))
        while not self.queue.empty():
            job = self.queue.get_nowait()
            cut.append(self._outcome(job.gap_ids, job.symbol, UNREPAIRABLE, 0, 0, reason))
        if cut:
            await self.outlet.archive(cut)

    def status(self) -> dict[str, Any]:
        """Outcome counts, trades recovered and calls made (for /status)."""
        return {
            **{outcome: max(0, self.outcomes[outcome]) for outcome in OUTCOMES},
            "trades_recovered": self.trades_recovered,
            "calls": self.calls,
            "queued": self.queue.qsize() + (1 if self._active else 0),
        }


def outcome_record(
    now_ns: int,
    source: str,
    symbol: str,
    gap_ids: list[str],
    outcome: str,
    trades: int,
    volume: int,
    reason: str,
) -> Record:
    """The ``gap_repair`` system record that settles ``gap_ids``."""
    return system_record(
        "gap_repair", now_ns, source, symbol,
        gap_ids=gap_ids, gap_id=gap_ids[0], outcome=outcome, trades_recovered=trades,
        volume_recovered=volume, reason=reason or None,
    )  # fmt: skip


def backfill_record(symbol: str, day: str, sale: TimeSale, recv_ns: int) -> Record:
    """A ``scalp`` record of a fetched trade: the API's fields, the rest null, flagged partial."""
    data: dict[str, Any] = dict.fromkeys(_FIELD_NAMES)
    data.update(sale.data)
    data["symbol"] = symbol
    data["business_date"] = day
    t = sale.time
    data["trade_ts"] = f"{day[:4]}-{day[4:6]}-{day[6:]}T{t[:2]}:{t[2:4]}:{t[4:]}+09:00"
    data["market"] = data["session"] = data["tick_size"] = None
    record = Record("scalp", BACKFILL_SOURCE, SCALP_TR_ID, symbol, data, recv_ns, sale.raw)
    record.flags.append(PARTIAL_FLAG)
    return record


def _ns(iso: Any) -> int:
    """Epoch ns of an ISO 8601 timestamp (0 when missing)."""
    if not isinstance(iso, str):
        return 0
    return int(datetime.fromisoformat(iso).timestamp() * NS_PER_S)
