"""Track B: turn one WebSocket session's output into archived records.

A :class:`ScalpStreamer` consumes the bounded ``out`` queue of one ``KisWebSocketSession``:

- ``WsData``: each parsed record becomes a ``scalp`` :class:`Record` (tr_id, symbol, data, raw,
  receive time); the batch goes through the pipeline (validation, gap detection) and on to the
  archive; rejected frames and records the pipeline refuses go to the quarantine;
- ``WsEvent``: a ``connection`` system event; a disconnect opens a blind window that the next
  connect closes with one ``gap`` per registered symbol (reason ``disconnect``).

Everything waiting in the queue is taken in one go and handled as one batch, so a burst costs one
pipeline call and one archive submission.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol

from observer.clock import NS_PER_S, Clock
from observer.exceptions import ObserverError
from observer.market.outlet import RecordOutlet
from observer.market.repair import GapRepairer
from observer.market.slots import SCALP_TR_ID
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
BATCH_MAX = 2048
DISCONNECT_REASON = "disconnect"
REFUSED_REASON = "archive_refused"
DROPPED_REASON = "shutdown_dropped"  # queued records a stuck streamer could not hand on
_END = object()  # queued by finish(): the last item run() handles


class _Parsed(Protocol):
    tr_id: str
    symbol: str
    data: dict[str, Any]
    raw: str


class _Rejected(Protocol):
    reason: str
    raw: str
    tr_id: str | None


@dataclass(slots=True)
class StreamerStats:
    """What /status shows about one source."""

    connected: bool = False
    reconnects: int = 0
    last_message_ns: int | None = None
    frames: int = 0
    records: int = 0
    rejects: int = 0
    down_since_ns: int | None = None


@dataclass(eq=False, repr=False)
class ScalpStreamer:
    """Consumes one session's queue until cancelled; see the module docstring."""

    name: str
    queue: asyncio.Queue[Any]
    clock: Clock
    outlet: RecordOutlet
    pipeline: Pipeline
    _: KW_ONLY
    source_label: str
    registered: Callable[[], Iterable[str]]
    repair: GapRepairer | None = None  # tags gaps and queues their repair (OBSERVER_GAP_REPAIR)
    stats: StreamerStats = field(init=False, default_factory=StreamerStats)
    closing: bool = field(init=False, default=False)  # a deliberate stop: its disconnect is no gap
    fatal: str | None = field(init=False, default=None)
    _ever_connected: bool = field(init=False, default=False)
    _refused_since: int | None = field(init=False, default=None)
    # per symbol, the trades the archive refused: (business date, acc before, acc after)
    _refused_trades: dict[str, tuple[str, int, int]] = field(init=False, default_factory=dict)

    @property
    def archive_refusing(self) -> bool:
        """True while the archive refuses this stream's records (a gap is open)."""
        return self._refused_since is not None

    async def run(self) -> None:
        """Handle items as they come; a burst is drained and handled as one batch.

        When the archive refuses a batch (paused by the disk guard, a write error), the stream
        keeps being consumed and the refused stretch becomes one gap per registered symbol
        (reason ``archive_refused``) as soon as the archive takes records again.
        """
        queue = self.queue
        while True:
            batch = [await queue.get()]
            while len(batch) < BATCH_MAX and not queue.empty():
                batch.append(queue.get_nowait())
            last = batch[-1] is _END  # the end marker is always the last item ever queued
            if last:
                batch.pop()
            try:
                await self.handle(batch)
            except ObserverError as exc:
                if self._refused_since is None:
                    self._refused_since = self.clock.now_ns()
                    log.error("%s: the archive refused records: %s", self.name, exc)
            else:
                if self._refused_since is not None:
                    await self._close_refusal()
            if last:
                return

    async def finish(self) -> None:
        """Queue the end marker: run() handles everything before it, then returns.

        Call after the session stopped putting items (nothing may follow the marker).
        """
        await self.queue.put(_END)

    async def _close_refusal(self) -> None:
        start, self._refused_since = self._refused_since, None
        if start is None:
            return
        end = self.clock.now_ns()
        symbols = sorted(set(self.registered()) | set(self._refused_trades))
        log.warning(
            "%s: the archive takes records again; %d symbols get a gap", self.name, len(symbols)
        )
        gaps = self.pipeline.disconnect_gaps(start, end, REFUSED_REASON, symbols)
        for gap in gaps:  # the refused trades' cumulative volumes: a repair can fetch them
            refused = self._refused_trades.get(gap.symbol)
            if refused is not None:
                day, acc_from, acc_to = refused
                gap.data.update(
                    business_date=day, acc_volume_from=acc_from, acc_volume_to=acc_to,
                    missed_volume=acc_to - acc_from,
                )  # fmt: skip
        due = self.repair.note(gaps, ()) if self.repair is not None else []
        try:
            await self.outlet.archive([*gaps, *due])
        except ObserverError:
            self._refused_since = start
            return
        self._refused_trades.clear()

    def _note_refused(self, records: Iterable[Record]) -> None:
        """Keep the cumulative-volume range of each symbol's trades the archive refused."""
        for record in records:
            data = record.data
            if record.stream != "scalp" or record.tr_id != SCALP_TR_ID:
                continue
            day, acc, volume = (
                data.get("business_date"),
                data.get("acc_volume"),
                data.get("trade_volume"),
            )
            if not isinstance(day, str) or type(acc) is not int or type(volume) is not int:
                continue
            known = self._refused_trades.get(record.symbol)
            if known is None or known[0] != day:
                self._refused_trades[record.symbol] = (day, acc - volume, acc)
            else:
                self._refused_trades[record.symbol] = (
                    day, min(known[1], acc - volume), max(known[2], acc)
                )  # fmt: skip

    async def drain(self) -> None:
        """Handle whatever is still queued (after the session stopped)."""
        batch = []
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        if batch:
            await self.handle(batch)

    async def handle(self, items: Iterable[Any]) -> None:
        """Turn data and events into records, in arrival order, and pass them on."""
        scalp: list[Record] = []
        system: list[Record] = []
        rejects: list[_Rejected] = []
        label = self.source_label
        stats = self.stats
        for item in items:
            message = getattr(item, "message", None)
            if message is None:
                if scalp:  # keep order: gaps and events after the data received before them
                    await self._flush(scalp, system, rejects)
                    scalp, system, rejects = [], [], []
                system.extend(self._event(item))
                continue
            recv_ns: int = item.recv_ns
            stats.frames += 1
            stats.last_message_ns = recv_ns
            parsed: list[_Parsed] | None = getattr(message, "records", None)
            if parsed is None:  # a whole frame that could not be parsed
                rejects.append(message)
                continue
            for p in parsed:
                scalp.append(Record("scalp", label, p.tr_id, p.symbol, p.data, recv_ns, p.raw))
            if message.rejects:
                rejects.extend(message.rejects)
        await self._flush(scalp, system, rejects)

    async def _flush(
        self, scalp: list[Record], system: list[Record], rejects: list[_Rejected]
    ) -> None:
        if scalp:
            self.stats.records += len(scalp)
            result = self.pipeline.process_ticks(scalp)
            out = result.records_to_archive
            due = self._note_gaps(system, result.gaps, out)
            if result.gaps or system:
                out.extend(result.gaps)
                out.extend(system)
            out.extend(due)
            if result.quarantined:
                await self.outlet.quarantine(result.quarantined)
            try:
                await self.outlet.archive(out, gaps=len(result.gaps) + _gaps_in(system))
            except ObserverError:  # nothing of the batch was queued: remember its trades
                self._note_refused(out)
                raise
        elif system:
            await self.outlet.archive([*system, *self._note_gaps(system, [], [])])
        if rejects:
            self.stats.rejects += len(rejects)
            await self.outlet.reject_many([(r.reason, r.raw, r.tr_id) for r in rejects])

    def _note_gaps(
        self, system: list[Record], gaps: list[Record], trades: list[Record]
    ) -> list[Record]:
        """Hand the batch's gaps (events first: they came first) to the repairer, if any."""
        if self.repair is None:
            return []
        windows = [r for r in system if r.data.get("event") == "gap"]
        if not windows and not gaps and not self.repair.waiting:
            return []
        return self.repair.note([*windows, *gaps], {r.symbol for r in trades})

    def _event(self, event: Any) -> list[Record]:
        kind = str(getattr(event, "kind", "unknown"))
        at_ns = int(getattr(event, "at_ns", 0)) or self.clock.now_ns()
        reason = str(getattr(event, "reason", "") or "")
        stats = self.stats
        records = [
            system_record(
                "connection", at_ns, self.source_label, session=self.name, state=kind, reason=reason
            )
        ]
        if kind == "disconnected":
            stats.connected = False
            if stats.down_since_ns is None and not self.closing:
                stats.down_since_ns = at_ns
        elif kind == "fatal":
            stats.connected = False
            self.fatal = reason or "fatal"
            if stats.down_since_ns is None and not self.closing:
                stats.down_since_ns = at_ns
        elif kind == "connected":
            stats.connected = True
            self.fatal = None
            if self._ever_connected:
                stats.reconnects += 1
            self._ever_connected = True
            records.extend(self.close_window(at_ns))
        return records

    def abandon(self) -> list[Record]:
        """Empty the queue without handling it (a streamer stuck at shutdown): one gap per
        symbol of the dropped records, with their window and count, so nothing goes silently."""
        first = last = None
        counts: dict[str, int] = {}
        while not self.queue.empty():
            item = self.queue.get_nowait()
            parsed = getattr(getattr(item, "message", None), "records", None)
            if not parsed:
                continue
            recv_ns: int = item.recv_ns
            first = recv_ns if first is None else min(first, recv_ns)
            last = recv_ns if last is None else max(last, recv_ns)
            for p in parsed:
                counts[p.symbol] = counts.get(p.symbol, 0) + 1
        if first is None or last is None:
            return []
        log.error("%s: %d queued records dropped at shutdown; recorded as gaps",
                  self.name, sum(counts.values()))  # fmt: skip
        gaps = self.pipeline.disconnect_gaps(first, last, DROPPED_REASON, sorted(counts))
        for gap in gaps:
            gap.data["records"] = counts[gap.symbol]
        return gaps

    def close_window(self, end_ns: int, reason: str = DISCONNECT_REASON) -> list[Record]:
        """Gaps for the blind window since the last disconnect (none when connected)."""
        start = self.stats.down_since_ns
        self.stats.down_since_ns = None
        if start is None:
            return []
        symbols = sorted(set(self.registered()))
        log.info(
            "%s was blind for %.1f s: %d symbols get a gap",
            self.name,
            (end_ns - start) / NS_PER_S,
            len(symbols),
        )
        return self.pipeline.disconnect_gaps(start, end_ns, reason, symbols)

    def status(self) -> dict[str, Any]:
        """This source's entry in the ``sources`` list of /status."""
        s = self.stats
        age = None
        if s.last_message_ns is not None:
            age = round(max(0.0, (self.clock.now_ns() - s.last_message_ns) / NS_PER_S), 3)
        return {
            "name": self.name,
            "kind": "websocket",
            "connected": s.connected,
            "reconnects": s.reconnects,
            "last_message_age_seconds": age,
            "registrations": len(list(self.registered())),
            "records": s.records,
            "rejects": s.rejects,
        }


def _gaps_in(records: list[Record]) -> int:
    return sum(1 for r in records if r.data.get("event") == "gap")
