"""The KRX market calendar, all in KST.

A day is a trading day unless it is a weekend, a KRX holiday (``holidays.financial_holidays
("XKRX")``) or a closure in the override file; the override file can also open a listed holiday,
shift a day's sessions or give a day its own schedule (see
:mod:`observer.market.calendar_overrides`).
The sessions of a trading day come from ``OBSERVER_SESSION_SCHEDULE``; on the first trading day
of a year the morning is one hour later (regular session from 10:00, see
:func:`observer.market.sessions.delay_morning`) unless the override file says otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import holidays

from observer.clock import KST
from observer.config.settings import Settings
from observer.market.calendar_overrides import (
    OVERRIDE_FILE_NAME,
    CalendarOverrides,
    load_overrides,
)
from observer.market.exceptions import CalendarError
from observer.market.sessions import (
    Session,
    SessionSpec,
    delay_morning,
    parse_schedule,
    sessions_for,
    shift_specs,
)

log = logging.getLogger(__name__)

FIRST_DAY_OPEN_MINUTE = 10 * 60
SEARCH_DAYS = 370
IDLE = "idle"
HolidaySource = Callable[[int], dict[date, str]]


class Transition(NamedTuple):
    """The next change of session: at ``at``, ``what`` = ``"<from> -> <to>"`` (idle = none)."""

    at: datetime
    what: str


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the market is doing at one instant (shown on /status; the service idles on it)."""

    at: datetime
    trading_day: bool
    session: str | None
    idle_reason: str | None
    next_session: Session | None
    next_transition: Transition | None

    def status(self) -> dict[str, Any]:
        """The ``market`` section of /status."""
        nxt = self.next_transition
        upcoming = self.next_session
        return {
            "trading_day": self.trading_day,
            "session": self.session,
            "idle_reason": self.idle_reason,
            "next_transition": None
            if nxt is None
            else {"at": nxt.at.isoformat(), "what": nxt.what},
            "next_session": None
            if upcoming is None
            else {"name": upcoming.name, "at": upcoming.start.isoformat()},
        }


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One KST day as the calendar sees it (``note`` says which override applied, if any)."""

    day: date
    trading: bool
    closed_reason: str | None
    sessions: tuple[Session, ...]
    bounds: tuple[tuple[str, int, int], ...]
    note: str | None


@dataclass(frozen=True, slots=True)
class HolidayEntry:
    """A listed or override holiday of a year; ``mark`` says what the override file changed."""

    day: date
    name: str
    closed: bool
    mark: str | None


def krx_holidays(year: int) -> dict[date, str]:
    """The packaged KRX holiday list of ``year`` (date -> name)."""
    return dict(holidays.financial_holidays("XKRX", years=year).items())


def krx_holiday_years() -> tuple[int, int]:
    """The first and last year the packaged KRX holiday data covers."""
    market = holidays.financial_holidays("XKRX")
    return int(market.start_year), int(market.end_year)


class MarketCalendar:
    """Trading days and sessions in KST, from the settings and the override file."""

    def __init__(
        self,
        settings: Settings,
        *,
        override_file: Path | None = None,
        holiday_source: HolidaySource = krx_holidays,
    ) -> None:
        self._base = parse_schedule(settings.session_schedule)
        path = (
            override_file if override_file is not None else settings.config_dir / OVERRIDE_FILE_NAME
        )
        self.override_path = path
        self.overrides: CalendarOverrides = load_overrides(path, self._base)
        self._holiday_source = holiday_source
        self._holidays: dict[int, dict[date, str]] = {}
        self._days: dict[date, CalendarDay] = {}
        self._first_days: dict[int, date | None] = {}
        for day in sorted(self.overrides.shift):
            reason = self.closed_reason(day)
            if reason is not None:
                raise CalendarError(
                    str(path),
                    f"{day.isoformat()} is closed ({reason}); a shift needs a trading day "
                    "(use 'schedule' to open a closed day with its own sessions)",
                    f"shift.{day.isoformat()}",
                )
        if self.overrides.path is not None:
            o = self.overrides
            log.info(
                "calendar overrides from %s: %d closed, %d opened, %d shifted, %d custom days",
                path,
                len(o.close),
                len(o.open),
                len(o.shift),
                len(o.schedule),
            )

    @property
    def schedule(self) -> tuple[SessionSpec, ...]:
        """The configured (ordinary day) schedule."""
        return self._base

    # -- days --------------------------------------------------------------------------------
    def listed_holidays(self, year: int) -> dict[date, str]:
        """The packaged holiday list of ``year`` (before overrides)."""
        if year not in self._holidays:
            self._holidays[year] = self._holiday_source(year)
        return self._holidays[year]

    def closed_reason(self, day: date) -> str | None:
        """Why ``day`` is closed ("weekend", "holiday: <name>"), or None on a trading day."""
        if day in self.overrides.close:
            return f"holiday: {self.overrides.close[day]}"
        if day in self.overrides.open or day in self.overrides.schedule:
            return None
        name = self.listed_holidays(day.year).get(day)
        if name is not None:
            return f"holiday: {name}"
        if day.weekday() >= 5:
            return "weekend"
        return None

    def is_trading_day(self, day: date) -> bool:
        return self.closed_reason(day) is None

    def first_trading_day(self, year: int) -> date | None:
        """The first trading day of ``year`` (its morning opens an hour late)."""
        if year not in self._first_days:
            day = date(year, 1, 1)
            found: date | None = None
            while day.year == year:
                if self.is_trading_day(day):
                    found = day
                    break
                day += timedelta(days=1)
            self._first_days[year] = found
        return self._first_days[year]

    def day(self, day: date) -> CalendarDay:
        """Everything about one day (cached)."""
        cached = self._days.get(day)
        if cached is None:
            cached = self._build_day(day)
            if len(self._days) > 4096:
                self._days.clear()
            self._days[day] = cached
        return cached

    def _build_day(self, day: date) -> CalendarDay:
        reason = self.closed_reason(day)
        if reason is not None:
            return CalendarDay(day, False, reason, (), (), None)
        specs, note = self._specs_for(day)
        sessions = tuple(sessions_for(day, specs))
        bounds = tuple((s.name, s.start_minute * 60, s.end_minute * 60) for s in specs)
        if note is None and day in self.overrides.open:
            note = f"open despite {self.listed_holidays(day.year).get(day, 'listing')}"
        return CalendarDay(day, True, None, sessions, bounds, note)

    def _specs_for(self, day: date) -> tuple[tuple[SessionSpec, ...], str | None]:
        if day in self.overrides.schedule:
            return self.overrides.schedule[day], "custom schedule"
        if day in self.overrides.shift:
            minutes = self.overrides.shift[day]
            return shift_specs(self._base, minutes, str(self.override_path)), (
                f"shifted {minutes:+d} min"
            )
        if day == self.first_trading_day(day.year):
            return delay_morning(self._base, FIRST_DAY_OPEN_MINUTE), "first trading day of the year"
        return self._base, None

    def sessions_on(self, day: date) -> list[Session]:
        """The sessions of ``day`` in time order (empty when closed)."""
        return list(self.day(day).sessions)

    def session_bounds(self, day: date) -> tuple[tuple[str, int, int], ...]:
        """(name, start, end) in seconds after KST midnight of ``day``; for the pipeline."""
        return self.day(day).bounds

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        for candidate in _days_after(day):
            if self.is_trading_day(candidate):
                return candidate
        raise CalendarError(str(self.override_path), f"no trading day within a year of {day}")

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        candidate = day
        for _ in range(SEARCH_DAYS):
            candidate -= timedelta(days=1)
            if self.is_trading_day(candidate):
                return candidate
        raise CalendarError(str(self.override_path), f"no trading day within a year before {day}")

    # -- instants ----------------------------------------------------------------------------
    def session_at(self, when: datetime) -> Session | None:
        """The session in progress at ``when`` (start inclusive, end exclusive)."""
        local = _kst(when)
        for session in self.day(local.date()).sessions:
            if session.contains(local):
                return session
        return None

    def next_session(self, when: datetime) -> Session | None:
        """The first session starting strictly after ``when``."""
        local = _kst(when)
        for day in _days_from(local.date()):
            for session in self.day(day).sessions:
                if session.start > local:
                    return session
        return None

    def next_transition(self, when: datetime) -> Transition:
        """The next instant after ``when`` at which the current session changes."""
        local = _kst(when)
        current = self.session_at(local)
        current_name = current.name if current is not None else IDLE
        for day in _days_from(local.date()):
            for edge, name_after in self._edges(day):
                if edge > local and name_after != current_name:
                    return Transition(edge, f"{current_name} -> {name_after}")
        raise CalendarError(str(self.override_path), f"no session within a year of {when}")

    def _edges(self, day: date) -> Iterator[tuple[datetime, str]]:
        """Each instant of ``day`` where a session starts or ends, with the session after it."""
        sessions = self.day(day).sessions
        for i, session in enumerate(sessions):
            yield session.start, session.name
            following = sessions[i + 1] if i + 1 < len(sessions) else None
            if following is None or following.start != session.end:
                yield session.end, IDLE

    def state(self, when: datetime) -> MarketState:
        """The market at ``when``: trading day, session or why idle, what comes next."""
        local = _kst(when)
        info = self.day(local.date())
        session = self.session_at(local)
        idle: str | None = None
        if session is None:
            idle = info.closed_reason or self._idle_reason(info, local)
        return MarketState(
            at=local,
            trading_day=info.trading,
            session=session.name if session is not None else None,
            idle_reason=idle,
            next_session=self.next_session(local),
            next_transition=self.next_transition(local),
        )

    @staticmethod
    def _idle_reason(info: CalendarDay, local: datetime) -> str:
        if not info.sessions or local < info.sessions[0].start:
            return "before open"
        if local >= info.sessions[-1].end:
            return "after close"
        return "between sessions"

    # -- years -------------------------------------------------------------------------------
    def holidays_in(self, year: int) -> list[HolidayEntry]:
        """The year's listed and override holidays plus override-changed days, in date order."""
        entries: dict[date, HolidayEntry] = {}
        for day, name in self.listed_holidays(year).items():
            opened = day in self.overrides.open
            entries[day] = HolidayEntry(day, name, not opened, "override: open" if opened else None)
        for day, reason in self.overrides.close.items():
            if day.year == year:
                entries[day] = HolidayEntry(day, reason, True, "override: closed")
        for day in self.overrides.open:
            if day.year == year and day not in entries:
                entries[day] = HolidayEntry(day, "(not listed)", False, "override: open")
        for day, minutes in self.overrides.shift.items():
            if day.year == year:
                entries[day] = HolidayEntry(
                    day, "sessions shifted", False, f"override: {minutes:+d} min"
                )
        for day in self.overrides.schedule:
            if day.year == year:
                entries[day] = HolidayEntry(day, "custom schedule", False, "override: schedule")
        return [entries[day] for day in sorted(entries)]


def _kst(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("the calendar needs an aware datetime")
    return when.astimezone(KST)


def _days_after(day: date) -> Iterator[date]:
    for offset in range(1, SEARCH_DAYS + 1):
        yield day + timedelta(days=offset)


def _days_from(day: date) -> Iterator[date]:
    yield day
    yield from _days_after(day)
