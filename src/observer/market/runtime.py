"""The collector: runs the universe, track A and track B on the market's schedule.

One loop follows the calendar: it records a ``session`` system event at every transition,
makes sure today's universe exists (at start-up, then daily from
``OBSERVER_UNIVERSE_BUILD_TIME``), sweeps during the regular session, and keeps one WebSocket
session per app key connected only during the scalp sessions (``OBSERVER_SCALP_SESSIONS``).
Outside sessions nothing is collected and the sessions are disconnected. After every sweep the
triggers re-rank the universe and the slot manager moves the sessions' registrations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import aiohttp

from observer.clock import KST, NS_PER_S, Clock
from observer.config.exceptions import ConfigError
from observer.config.redact import Redactor
from observer.config.settings import Settings
from observer.kis.account import KisAccount
from observer.market.calendar import MarketCalendar
from observer.market.exceptions import UniverseError
from observer.market.outlet import ArchiveSink, QuarantineSink, RecordOutlet
from observer.market.resume import is_down_window
from observer.market.scalp import STOPPING, ScalpCollector, SessionFactory, kis_session_factory
from observer.market.slots import SCALP_TR_ID, SlotManager, parse_symbol_list
from observer.market.snapshots import Universe, newest_before
from observer.market.sources import AccountQuoteSource
from observer.market.sweep import SweepResult, SweepScheduler, SwingSweeper
from observer.market.today import slot_details
from observer.market.triggers import HysteresisSelector, score_sweeps
from observer.market.universe import UniverseBuilder
from observer.metrics import Metrics
from observer.pipeline.guard import SymbolProfile
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
SWEEP_SESSION = "regular"
UNIVERSE_RETRY_SECONDS = 300.0
DISCONNECT_GRACE_SECONDS = 60.0


SIM_APP_KEY = "sim-app-key"
SIM_APP_SECRET = "sim-app-secret"  # noqa: S105 - the embedded simulator's fixed fake secret


def accounts_for(
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    redactor: Redactor,
    http: aiohttp.ClientSession,
) -> list[KisAccount]:
    """One account per app key for the configured source.

    Source ``kis``: every pair of ``settings.app_credentials()``. Source ``sim``: one fake key
    (real keys are never sent to the simulator, and its tokens never enter their cache files).
    The settings' URLs must already point at the source (the simulator's, when embedded).
    """
    if settings.source == "kis":
        pairs = settings.app_credentials()
        if not pairs:
            raise ConfigError(["OBSERVER_SOURCE=kis needs KIS_APP_KEY and KIS_APP_SECRET"])
    else:
        pairs = [(SIM_APP_KEY, SIM_APP_SECRET)]
    return [KisAccount(settings, k, s, clock, metrics, redactor, http) for k, s in pairs]


class MarketRuntime:
    """Universe, track A and track B on the calendar; ``start``/``stop``/``status``/``ready``."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        writer: ArchiveSink,
        quarantine: QuarantineSink,
        accounts: Sequence[Any],
        calendar: MarketCalendar,
        *,
        session_factory: SessionFactory | None = None,
    ) -> None:
        if not accounts:
            raise ValueError("the market runtime needs at least one KIS account")
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.calendar = calendar
        self.accounts = list(accounts)
        self.label = "sim" if settings.source == "sim" else "kis"
        self.pipeline = Pipeline.from_settings(settings, calendar, metrics)
        self.pipeline.source = self.label
        self.outlet = RecordOutlet(writer, quarantine, clock)
        quotes = AccountQuoteSource(self.accounts[0], clock)
        self.universe_builder = UniverseBuilder(settings, clock, quotes, source_label=self.label)
        self.sweeper = SwingSweeper(
            clock, metrics, quotes, self.outlet, self.pipeline, source_label=self.label
        )
        self.scheduler = SweepScheduler(
            self.sweeper, clock, settings.swing_interval_seconds, on_result=self._after_sweep
        )
        self.session_names = [f"ws{i + 1}" for i in range(len(self.accounts))]
        self.slots = SlotManager(
            self.session_names,
            per_session=settings.scalp_max_slots,
            always_on=parse_symbol_list(settings.scalp_always_on),
            min_dwell_seconds=settings.scalp_min_dwell_seconds,
        )
        self.selector = HysteresisSelector(max(0, self.slots.capacity - len(self.slots.always_on)))
        if len(self.slots.always_on) > self.slots.capacity:
            log.warning(
                "OBSERVER_SCALP_ALWAYS_ON lists %d symbols but there are %d slots; the rest wait",
                len(self.slots.always_on),
                self.slots.capacity,
            )
        self.scalp_sessions = set(parse_symbol_list(settings.scalp_sessions))
        self.scalp = ScalpCollector(
            clock,
            metrics,
            self.outlet,
            self.pipeline,
            self.slots,
            self.accounts,
            session_factory or kis_session_factory(settings, clock, metrics),
            source_label=self.label,
            gap_repair=settings.gap_repair,
        )
        self.universe: Universe | None = None
        self.universe_error: str | None = None
        self.universe_failure: dict[str, Any] | None = None  # reason, failed_step, counts
        self._universe_retry_at: datetime | None = None
        self._day: date | None = None
        self._prev_quotes: dict[str, dict[str, Any]] | None = None
        self._scores: dict[str, float] = {}
        self._session_key: tuple[bool, str | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._down_seeds: list[Record] = []  # service_down windows: baselines for the first day
        self._downtime_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def adopt_downtime(self, records: Sequence[Record]) -> None:
        """The start's ``service_down`` gaps and outcomes (see ``observer.market.resume``);
        call before :meth:`start`."""
        self.outlet.gap_list.add(records, self.clock.now().date())
        settled = {
            i for r in records if r.data.get("event") == "gap_repair" for i in r.data["gap_ids"]
        }
        windows = [r for r in records if is_down_window(r) and r.data["gap_id"] not in settled]
        self._down_seeds = windows
        self.scalp.adopt_downtime(windows)

    def _seed_baselines(self, today: date) -> None:
        """The last archived trade of each down symbol is the baseline of its next trade."""
        day = today.strftime("%Y%m%d")
        seeds, self._down_seeds = self._down_seeds, []
        for gap in seeds:
            data = gap.data
            acc = data.get("acc_volume_from")
            if data.get("business_date") == day and type(acc) is int:
                start = datetime.fromisoformat(str(data["start"]))
                self.pipeline.ticks.seed(
                    SCALP_TR_ID, gap.symbol, day, acc, int(start.timestamp() * NS_PER_S)
                )

    async def start(self) -> None:
        """Start following the calendar (returns at once; the universe is built in the loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="market-runtime")

    async def stop(self) -> None:
        """Stop sweeping and streaming; every record produced so far reaches the archive."""
        task, self._task = self._task, None
        pendings = (task, self._sweep_task, self._downtime_task)
        for pending in pendings:
            if pending is not None and not pending.done():
                pending.cancel()
        for pending in pendings:
            if pending is not None:
                await asyncio.wait({pending})
                if not pending.cancelled() and pending.exception() is not None:
                    log.error("%s had failed: %r", pending.get_name(), pending.exception())
        self._sweep_task = None
        await self.scalp.stop(STOPPING, repair_grace_seconds=0.0)  # SIGTERM: no waiting

    async def _run(self) -> None:
        first = True
        while True:
            try:
                wake = await self._step(first)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("market runtime step failed; retrying in a minute")
                wake = self.clock.now() + timedelta(seconds=60)
            first = False
            await self.clock.sleep_until(wake)

    async def _step(self, first: bool) -> datetime:
        """One pass: act on the current state; returns when to look again."""
        now = self.clock.now()
        state = self.calendar.state(now)
        await self._note_session(state.trading_day, state.session, state.idle_reason)
        today = now.date()
        if self._day != today:
            self._day = today
            self.pipeline.new_day()
            self._seed_baselines(today)
            self._prev_quotes = None
            self.sweeper.sweeps = 0
        wake = state.next_transition.at if state.next_transition else now + timedelta(hours=1)
        if state.trading_day:
            wake = min(
                wake, await self._universe_step(today, now, first or state.session is not None)
            )
        elif first:
            self._load_latest(today)
        tomorrow = self.calendar.next_trading_day(today)
        wake = min(wake, datetime.combine(tomorrow, self.settings.universe_build_time, KST))
        session = state.session if state.trading_day else None
        if session in self.scalp_sessions and self.universe is not None:
            await self.scalp.start()
        elif self.scalp.active:
            await self.scalp.stop(f"session {session or 'idle'}")
        elif self.scalp.downtime_waiting and not self._scalp_later(now):
            self._repair_downtime()
        if session == SWEEP_SESSION and self.universe is not None:
            self._start_sweeping(now)
        return wake

    def _scalp_later(self, now: datetime) -> bool:
        """Whether a scalp session of today is still to come (or on, waiting for a universe)."""
        sessions = self.calendar.sessions_on(now.date())
        return any(s.name in self.scalp_sessions and s.end > now for s in sessions)

    def _repair_downtime(self) -> None:
        if self._downtime_task is None or self._downtime_task.done():
            self._downtime_task = asyncio.create_task(
                self.scalp.repair_downtime(), name="repair-downtime"
            )

    # -- universe ----------------------------------------------------------------------------
    async def _universe_step(self, today: date, now: datetime, early: bool) -> datetime:
        """Build today's universe when due; returns when to try again if it is still missing."""
        build_at = datetime.combine(today, self.settings.universe_build_time, KST)
        have_today = self.universe is not None and self.universe.day == today
        retry_at = self._universe_retry_at
        waiting = retry_at is not None and now < retry_at
        if not have_today and not waiting and (early or now >= build_at):
            await self._ensure_universe(today)
        if self.universe is not None and self.universe.day == today:
            return now + timedelta(days=1)
        later = self._universe_retry_at or build_at
        return later if later > now else now + timedelta(seconds=UNIVERSE_RETRY_SECONDS)

    async def _ensure_universe(self, today: date) -> None:
        try:
            outcome = await self.universe_builder.ensure(today)
        except UniverseError as exc:
            self.universe_error = str(exc)
            self.universe_failure = {
                "reason": str(exc), "failed_step": exc.step, "counts": exc.counts
            }  # fmt: skip
            self._universe_retry_at = self.clock.now() + timedelta(seconds=UNIVERSE_RETRY_SECONDS)
            log.error("no universe for %s: %s", today, exc)
            event = system_record("universe", self.clock.now_ns(), self.label, action="failed")
            event.data.update(self.universe_failure)
            await self.outlet.archive([event])
            return
        self.universe_failure = outcome.failure
        self.universe_error = outcome.failure["reason"] if outcome.failure else None
        self._universe_retry_at = None
        universe = outcome.universe
        if universe.fallback:
            universe.day = today  # stands in for today
        self._use_universe(universe)
        await self.outlet.archive(outcome.events)

    def _load_latest(self, today: date) -> None:
        latest = self.universe_builder.existing(today) or newest_before(
            self.settings.snapshot_dir, today
        )
        if latest is not None:
            self._use_universe(latest)

    def _use_universe(self, universe: Universe) -> None:
        self.universe = universe
        self.sweeper.names = {s.code: s.name for s in universe.symbols}
        self.pipeline.set_universe(
            {
                s.code: SymbolProfile(s.market, s.fund, s.prev_close or None)
                for s in universe.symbols
            }
        )
        self.metrics.universe_symbols.set(len(universe.symbols))

    # -- sessions ----------------------------------------------------------------------------
    async def _note_session(self, trading: bool, session: str | None, idle: str | None) -> None:
        key = (trading, session)
        if key == self._session_key:
            return
        previous = self._session_key[1] if self._session_key else None
        self._session_key = key
        collecting = trading and (session in self.scalp_sessions or session == SWEEP_SESSION)
        self.metrics.market_open.set(1 if collecting else 0)
        log.info("market session: %s", session or f"idle ({idle})")
        event = system_record(
            "session",
            self.clock.now_ns(),
            self.label,
            session=session,
            previous=previous,
            trading_day=trading,
            idle_reason=idle,
        )
        await self.outlet.archive([event])

    # -- track A -----------------------------------------------------------------------------
    def _start_sweeping(self, now: datetime) -> None:
        if self._sweep_task is not None and not self._sweep_task.done():
            return
        session = self.calendar.session_at(now)
        if session is None or session.name != SWEEP_SESSION:
            return
        self._sweep_task = asyncio.create_task(
            self._sweep_session(session.start, session.end), name="sweeps"
        )

    async def _sweep_session(self, start: datetime, end: datetime) -> None:
        try:
            await self.scheduler.run(
                lambda: self.universe.codes if self.universe else [], start, end
            )
        finally:
            self.pipeline.sweeps.pause()  # the pause after the session is by design

    async def _after_sweep(self, result: SweepResult) -> None:
        previous, self._prev_quotes = self._prev_quotes, result.quotes
        candidates = score_sweeps(previous or {}, result.quotes)
        self._scores = {c.symbol: c.score for c in candidates}
        held = [s for s in self.slots.symbols() if s not in self.slots.always_on]
        await self.scalp.want(self.selector.select(candidates, held))

    # -- reporting ---------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The runtime's sections of /status (market, sources, slots, universe, sweep, gaps)."""
        now = self.clock.now()
        state = self.calendar.state(now)
        market = state.status()
        market["collecting"] = self.scalp.active or self.scheduler.busy
        universe = self.universe
        sources = [s.status() for s in self.scalp.streamers()] or [
            {
                "name": n,
                "kind": "websocket",
                "connected": False,
                "reconnects": 0,
                "last_message_age_seconds": None,
                "registrations": 0,
            }
            for n in self.session_names
        ]
        sources.append(self._rest_status())
        return {
            "market": market,
            "sources": sources,
            "slots": self._slots_status(),
            "universe": {
                "date": universe.day.isoformat() if universe else None,
                "size": len(universe.symbols) if universe else 0,
                "source": universe.source if universe else None,
                "fallback": universe.fallback if universe else False,
                "fallback_from": universe.fallback_from if universe else None,
                "error": self.universe_error,
                "failed_step": (self.universe_failure or {}).get("failed_step"),
                "counts": (self.universe_failure or {}).get("counts")
                or (universe.counts if universe else {}),
            },
            "sweep": {**self.sweeper.status(), "missed": self.scheduler.missed},
            "gaps_today": self.outlet.gaps_on(now.date()),
            "gaps": self.outlet.gap_list.today(now.date()),
            "gap_repair": {"enabled": self.settings.gap_repair, **self.scalp.repair_status()},
        }

    def _slots_status(self) -> list[dict[str, Any]]:
        names = {s.code: (s.name, s.market) for s in self.universe.symbols} if self.universe else {}
        rates = self.outlet.trade_rates.per_minute()
        return [
            {
                "session": n,
                "max": self.slots.per_session,
                "symbols": self.slots.symbols(n),
                "details": slot_details(self.slots, n, self.clock, names, self._scores, rates),
            }
            for n in self.session_names
        ]

    def _rest_status(self) -> dict[str, Any]:
        last = self.sweeper.last
        age = None
        if last is not None:
            age = round((self.clock.now_ns() - last.sweep_id) / NS_PER_S - last.duration_seconds, 3)
        return {
            "name": "rest",
            "kind": "rest",
            "connected": last is not None and last.quoted > 0,
            "reconnects": 0,
            "last_message_age_seconds": age,
            "registrations": 0,
        }

    def ready(self) -> tuple[bool, str]:
        """Whether the runtime does its job now; idle outside sessions counts as ready."""
        if self._task is None or self._task.done():
            return False, "market runtime is not running"
        now = self.clock.now()
        state = self.calendar.state(now)
        if not state.trading_day or state.session is None:
            return True, f"idle: {state.idle_reason or 'outside sessions'}"
        if state.session not in self.scalp_sessions and state.session != SWEEP_SESSION:
            return True, f"idle: session {state.session} is not collected"
        if self.universe is None:
            return False, f"no universe: {self.universe_error or 'not built yet'}"
        for streamer in self.scalp.streamers():
            if streamer.fatal is not None:
                return False, f"{streamer.name}: {streamer.fatal}"
            down = streamer.stats.down_since_ns
            if down is not None and (self.clock.now_ns() - down) / 1e9 > DISCONNECT_GRACE_SECONDS:
                return False, f"{streamer.name} disconnected"
        return True, f"collecting: {state.session}"
