"""Track B: one WebSocket session per app key, its streamer, and the slots it registers.

:class:`ScalpCollector` opens the sessions when a scalp session begins, moves registrations as
the slot manager decides (every change a ``slot`` system event), and closes everything when the
scalp sessions end: the deliberate close is not a gap, but a disconnect still open at that time
is recorded up to the close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from observer.clock import Clock
from observer.config.settings import Settings
from observer.exceptions import ObserverError
from observer.kis.ws import BACKOFF_FIRST_S, BACKOFF_MAX_S
from observer.market.outlet import RecordOutlet
from observer.market.repair import PENDING, UNREPAIRABLE, GapRepairer, outcome_record
from observer.market.slots import (
    SCALP_TR_ID,
    RegistrationTarget,
    SlotChange,
    SlotManager,
    apply_slot_changes,
)
from observer.market.streamer import ScalpStreamer
from observer.metrics import Metrics
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
WS_QUEUE_MAX = 10_000
STOP_TIMEOUT_SECONDS = 3.0
REPAIR_GRACE_SECONDS = 10.0  # real seconds queued repairs get to finish when streaming stops
DOWNTIME_GRACE_SECONDS = 120.0  # real seconds a downtime repair outside streaming may take
STOPPING = "service stopping"  # the stop reason of a shutdown: repairs are cut at once


class WsSession(RegistrationTarget, Protocol):
    """The part of ``observer.kis.ws.KisWebSocketSession`` the runtime uses."""

    async def run(self) -> None: ...
    async def stop(self) -> None: ...


SessionFactory = Callable[[Any, str, "asyncio.Queue[Any]", Callable[[], bool]], WsSession]


def kis_session_factory(
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    *,
    backoff_first_s: float = BACKOFF_FIRST_S,
    backoff_max_s: float = BACKOFF_MAX_S,
) -> SessionFactory:
    """Builds a ``KisWebSocketSession`` per (account, name, out queue, market-hours check).

    The reconnect backoff (real seconds) defaults to the session's own 1 s to 30 s.
    """

    def build(
        account: Any, name: str, out: asyncio.Queue[Any], market_hours: Callable[[], bool]
    ) -> WsSession:
        from observer.kis.ws import KisWebSocketSession

        session: WsSession = KisWebSocketSession(
            settings.kis_ws_url,
            account,
            clock,
            metrics,
            name=name,
            silence_seconds=settings.ws_silence_seconds,
            market_hours=market_hours,
            out=out,
            backoff_first_s=backoff_first_s,
            backoff_max_s=backoff_max_s,
        )
        return session

    return build


class _Stream:
    """One app key's session, its streamer, its gap repairer and their tasks."""

    def __init__(self, session: WsSession, streamer: ScalpStreamer) -> None:
        self.session = session
        self.streamer = streamer
        self.tasks = [
            asyncio.create_task(session.run(), name=f"ws-{streamer.name}"),
            asyncio.create_task(streamer.run(), name=f"stream-{streamer.name}"),
        ]
        repair = streamer.repair
        self.repair_task = (
            None
            if repair is None
            else asyncio.create_task(repair.run(), name=f"repair-{streamer.name}")
        )


class ScalpCollector:
    """Opens, steers and closes the WebSocket sessions of track B."""

    def __init__(
        self,
        clock: Clock,
        metrics: Metrics,
        outlet: RecordOutlet,
        pipeline: Pipeline,
        slots: SlotManager,
        accounts: Sequence[Any],
        factory: SessionFactory,
        *,
        source_label: str,
        gap_repair: bool = False,
        repair_grace_seconds: float = REPAIR_GRACE_SECONDS,
    ) -> None:
        self.gap_repair = gap_repair
        self.repair_grace_seconds = repair_grace_seconds
        self.repair_totals: dict[str, int] = {}  # outcomes of finished sessions' repairers
        self.clock = clock
        self.metrics = metrics
        self.outlet = outlet
        self.pipeline = pipeline
        self.slots = slots
        self.accounts = list(accounts)
        self.session_names = slots.sessions
        self._factory = factory
        self.label = source_label
        self._desired: list[str] = []
        self._streams: dict[str, _Stream] = {}
        self._slot_lock = asyncio.Lock()
        self._slot_tasks: set[asyncio.Task[None]] = set()
        self._closing: dict[str, _Stream] = {}  # stopped, their repairs not finished yet
        # read at each scrape: every session's repairer and the downtime windows, as /status
        metrics.gap_repairs_pending.set_function(lambda: self.repair_status().get(PENDING, 0))
        self._downtime_repair: GapRepairer | None = None  # repair_downtime's, while it runs
        # service_down windows (observer.market.resume) not yet handed to a repairer
        self._down_windows: dict[str, tuple[str, Record]] = {}

    @property
    def active(self) -> bool:
        return bool(self._streams)

    @property
    def downtime_waiting(self) -> bool:
        """True while some symbol's downtime window waits for its repair."""
        return bool(self._down_windows)

    def adopt_downtime(self, windows: Iterable[Record]) -> None:
        """Take the pending ``service_down`` windows of this start (one per symbol)."""
        if not self.gap_repair:
            return
        for gap in windows:
            self._down_windows[gap.symbol] = (str(gap.data["gap_id"]), gap)

    def _hand_window(self, symbol: str, stream: _Stream | None) -> None:
        repair = stream.streamer.repair if stream is not None else None
        window = self._down_windows.pop(symbol, None) if repair is not None else None
        if repair is not None and window is not None:
            repair.add_window(*window)

    async def repair_downtime(self, grace_seconds: float = DOWNTIME_GRACE_SECONDS) -> None:
        """Outside streaming: repair the downtime windows up to their end (the API covers
        the whole day); what does not finish within ``grace_seconds`` ends unrepairable."""
        if not self._down_windows or self._streams or not self.accounts:
            return
        repair = self._repairer(self.accounts[0])
        if repair is None:
            return
        windows, self._down_windows = self._down_windows, {}
        for gap_id, gap in windows.values():
            repair.add_window(gap_id, gap)
        self._downtime_repair = repair  # counted in /status while it runs
        task = asyncio.create_task(repair.run(), name="repair-downtime")
        try:
            await repair.finish(grace_seconds, "session ended")
        finally:
            task.cancel()
            await _settle(task, "downtime repair")
            self._downtime_repair = None
        self._add_totals(repair)

    def streamers(self) -> list[ScalpStreamer]:
        return [s.streamer for s in self._streams.values()]

    async def want(self, desired: list[str]) -> None:
        """The new wish list from the triggers; applied now when streaming, else at the start."""
        self._desired = desired
        if self._streams:
            await self._rebalance()

    async def start(self) -> None:
        """Open one session per app key and register the slots."""
        if self._streams:
            return
        for account, name in zip(self.accounts, self.session_names, strict=True):
            queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=WS_QUEUE_MAX)
            session = self._factory(account, name, queue, lambda: self.active)
            streamer = ScalpStreamer(
                name,
                queue,
                self.clock,
                self.outlet,
                self.pipeline,
                source_label=self.label,
                registered=self._registered_of(session),
                repair=self._repairer(account),
            )
            self._streams[name] = _Stream(session, streamer)
        log.info("track B streaming on %d session(s)", len(self._streams))
        await self._rebalance()

    def _repairer(self, account: Any) -> GapRepairer | None:
        rest = getattr(account, "rest", None)
        if not self.gap_repair or rest is None:
            return None
        return GapRepairer(
            rest, self.clock, self.outlet, self.metrics, source_label=self.label,
            last_acc_volume=self.pipeline.ticks.last_acc_volume,
        )  # fmt: skip

    def repair_status(self) -> dict[str, int]:
        """Repair outcomes, trades recovered and calls: finished sessions' plus running ones'."""
        totals = dict(self.repair_totals)
        if self._down_windows:
            totals[PENDING] = totals.get(PENDING, 0) + len(self._down_windows)
        repairs = [s.streamer.repair for s in [*self._streams.values(), *self._closing.values()]]
        for repair in [*repairs, self._downtime_repair]:
            if repair is not None:
                for key, value in repair.status().items():
                    totals[key] = totals.get(key, 0) + value
        return totals

    @staticmethod
    def _registered_of(session: WsSession) -> Callable[[], list[str]]:
        return lambda: [key for _tr, key in session.desired]

    async def _rebalance(self) -> None:
        async with self._slot_lock:
            changes = self.slots.rebalance(self._desired, self.clock.monotonic())
        if changes:
            task = asyncio.create_task(self._apply(changes), name="slots")
            self._slot_tasks.add(task)
            task.add_done_callback(self._slot_tasks.discard)

    async def _apply(self, changes: list[SlotChange]) -> None:
        async with self._slot_lock:
            targets: dict[str, RegistrationTarget] = {
                n: s.session for n, s in self._streams.items()
            }
            if not targets:
                return
            for change in changes:  # before the registration: its first trade settles it
                if change.action == "assign" and change.symbol in self._down_windows:
                    self._hand_window(change.symbol, self._streams.get(change.session))
            results = await apply_slot_changes(self.slots, changes, targets, SCALP_TR_ID)
            await self._record_slot_changes(results)

    async def _record_slot_changes(self, results: Sequence[tuple[SlotChange, str | None]]) -> None:
        now_ns = self.clock.now_ns()
        events = []
        for change, error in results:
            self.metrics.slot_changes.labels(change.action if error is None else "failed").inc()
            event = system_record(
                "slot",
                now_ns,
                self.label,
                change.symbol,
                action=change.action,
                session=change.session,
                reason=change.reason,
                replaces=change.replaces,
            )
            if error is not None:
                event.data["error"] = error
            events.append(event)
        for name in self.session_names:
            self.metrics.slots_used.labels(name).set(len(self.slots.symbols(name)))
        await self.outlet.archive(events)

    async def stop(self, reason: str, *, repair_grace_seconds: float | None = None) -> None:
        """Close every session; archive what was received and any open disconnect window.

        Queued gap repairs get ``repair_grace_seconds`` (default: the collector's) to finish.
        """
        for pending in list(self._slot_tasks):
            pending.cancel()
            await _settle(pending, "slot changes")
        streams, self._streams = self._streams, {}
        self._closing.update(streams)  # their repairs still count in /status until finished
        if not streams:
            if reason == STOPPING:
                await self._cut_downtime(reason)
            return
        for stream in streams.values():
            stream.streamer.closing = True
            try:
                await asyncio.wait_for(stream.session.stop(), STOP_TIMEOUT_SECONDS)
            except (TimeoutError, ObserverError) as exc:
                log.warning("stopping %s: %r", stream.streamer.name, exc)
        for stream in streams.values():
            session_task, streamer_task = stream.tasks
            await _settle(session_task, f"session {stream.streamer.name}", STOP_TIMEOUT_SECONDS)
            if not streamer_task.done():  # nothing more is queued: handle the rest, then end
                try:
                    await asyncio.wait_for(stream.streamer.finish(), STOP_TIMEOUT_SECONDS)
                except TimeoutError:
                    log.warning("streamer %s is stuck; cancelling it", stream.streamer.name)
            await _settle(streamer_task, f"streamer {stream.streamer.name}", STOP_TIMEOUT_SECONDS)
        end_ns = self.clock.now_ns()
        for stream in streams.values():
            dropped = stream.streamer.abandon()  # only what a stuck streamer left queued
            gaps = [*dropped, *stream.streamer.close_window(end_ns)]
            repair = stream.streamer.repair  # blind windows: repaired up to their end below
            due = repair.note(gaps, ()) if repair is not None and gaps else []
            await self.outlet.archive([*gaps, *due])
        grace = self.repair_grace_seconds if repair_grace_seconds is None else repair_grace_seconds
        first = next(iter(streams.values()))
        for symbol in list(self._down_windows):  # not registered again: up to the window's end
            self._hand_window(symbol, first)
        for stream in streams.values():
            await self._finish_repairs(stream, grace, reason)
        held = [
            (SlotChange("evict", s, self.slots.session_of(s) or "", reason), None)
            for s in self.slots.symbols()
        ]
        self.slots.reset()
        await self._record_slot_changes(held)
        log.info("track B stopped: %s", reason)

    async def _finish_repairs(self, stream: _Stream, grace: float, reason: str) -> None:
        """Let the repairer end its queue within the grace, then cut what is left."""
        repair, task = stream.streamer.repair, stream.repair_task
        if repair is None or task is None:
            self._closing.pop(stream.streamer.name, None)
            return
        try:
            await repair.finish(grace, STOPPING if reason == STOPPING else "session ended")
        except ObserverError as exc:
            log.error("gap repair of %s could not finish: %s", stream.streamer.name, exc)
        task.cancel()
        await _settle(task, f"gap repair {stream.streamer.name}")
        self._add_totals(repair)
        self._closing.pop(stream.streamer.name, None)

    async def _cut_downtime(self, reason: str) -> None:
        """At a shutdown outside streaming, windows not repaired end unrepairable (the next
        start's own service_down gap covers the same trades again)."""
        windows, self._down_windows = self._down_windows, {}
        if not windows:
            return
        self.metrics.gap_repairs.labels(UNREPAIRABLE).inc(len(windows))
        self.repair_totals[UNREPAIRABLE] = self.repair_totals.get(UNREPAIRABLE, 0) + len(windows)
        now_ns = self.clock.now_ns()
        await self.outlet.archive([
            outcome_record(now_ns, self.label, symbol, [gap_id], UNREPAIRABLE, 0, 0, reason)
            for symbol, (gap_id, _gap) in sorted(windows.items())
        ])  # fmt: skip

    def _add_totals(self, repair: GapRepairer) -> None:
        for key, value in repair.status().items():
            if key != "queued":
                self.repair_totals[key] = self.repair_totals.get(key, 0) + value


async def _settle(task: asyncio.Task[None], what: str, grace: float | None = None) -> None:
    """Wait for ``task`` to end (cancelling it after ``grace`` s); log how it failed, if it did."""
    done, _pending = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.warning("%s did not stop within %.0f s; cancelling it", what, grace or 0)
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed: %r", what, task.exception())
