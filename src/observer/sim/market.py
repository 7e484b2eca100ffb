"""The synthetic KRX market: a seeded universe whose trades unfold on the process clock.

Nothing is generated ahead of need: an issue's trades are drawn only when something asks for
its state (a quote, a WebSocket registration), and then only up to the clock's "now". The same
seed and date always give the same universe and the same trades.
"""

from __future__ import annotations

import logging
from datetime import date

from observer.clock import Clock
from observer.config.settings import Settings
from observer.sim.exceptions import UnknownSymbolError
from observer.sim.issues import SimIssue, build_universe
from observer.sim.schedule import TradingCalendar
from observer.sim.symbol_day import SymbolDay, TradeTick
from observer.sim.tape import DEFAULT_REACH, TradeTape

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = (
    "pre_open=08:30-09:00,regular=09:00-15:20,closing_auction=15:20-15:30,"
    "closing_price=15:40-16:00,after_hours=16:00-18:00"
)


class SimMarket:
    """Deterministic issues and trades on the process clock."""

    def __init__(
        self,
        seed: int,
        clock: Clock,
        n_issues: int,
        *,
        schedule: str = DEFAULT_SCHEDULE,
        activity: float = 1.0,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.activity = activity
        self.calendar = TradingCalendar(schedule)
        self.issues: list[SimIssue] = build_universe(seed, n_issues)
        self._by_code = {issue.code: issue for issue in self.issues}
        self._days: dict[str, SymbolDay] = {}
        self._watched: set[str] = set()
        self.tape_reach = DEFAULT_REACH  # trades of each issue-day the time-and-sales API serves

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> SimMarket:
        """The market the settings describe (seed, size, activity, session schedule)."""
        return cls(
            settings.sim_seed,
            clock,
            settings.sim_issues,
            schedule=settings.session_schedule,
            activity=settings.sim_activity,
        )

    def issue(self, code: str) -> SimIssue:
        """The issue with this short code, or UnknownSymbolError."""
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownSymbolError(code) from None

    def has(self, code: str) -> bool:
        return code in self._by_code

    def business_day(self) -> date:
        """The market day the clock is in (or the last one, on a closed day)."""
        return self.calendar.business_day(self.clock.now())

    def state(self, code: str) -> SymbolDay:
        """The issue's state for the current business day, advanced to now."""
        issue = self.issue(code)
        day = self.business_day()
        current = self._days.get(code)
        if current is None or current.day != day:
            taped = current is not None and current.tape is not None
            current = SymbolDay(issue, day, self.seed, self.calendar.segments(day), self.activity)
            if taped or code in self._watched:
                current.tape = TradeTape(self.tape_reach)
            self._days[code] = current
            if code in self._watched:
                current.advance(self.clock.now_ns())
                current.watched = True
        current.advance(self.clock.now_ns())
        return current

    def tape(self, code: str) -> SymbolDay:
        """The issue's state with its trade tape (from the open), advanced to now.

        An issue-day that was advanced without a tape is replayed from the open with one: the
        trades depend only on seed, issue and date, so the replay is the same day.
        """
        current = self.state(code)
        if current.tape is not None:
            return current
        replay = SymbolDay(
            current.issue, current.day, self.seed, self.calendar.segments(current.day),
            self.activity,
        )  # fmt: skip
        replay.tape = TradeTape(self.tape_reach)
        replay.advance(current.advanced_ns)
        replay.watched, replay.pending, replay.dropped = (
            current.watched, current.pending, current.dropped
        )  # fmt: skip
        self._days[code] = replay
        replay.advance(self.clock.now_ns())
        return replay

    def watch(self, code: str) -> None:
        """Start keeping each trade of ``code`` from now on (for streaming), on the tape too."""
        self.tape(code)
        state = self.state(code)
        state.watched = True
        self._watched.add(code)

    def unwatch(self, code: str) -> None:
        """Stop keeping trades of ``code``; buffered ones are dropped."""
        self._watched.discard(code)
        current = self._days.get(code)
        if current is not None:
            current.watched = False
            current.pending = []

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._watched)

    def take_trades(self, code: str) -> tuple[SymbolDay, list[TradeTick]]:
        """Every trade of a watched issue since the last call, oldest first."""
        state = self.state(code)
        return state, state.take()
