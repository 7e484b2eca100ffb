"""When the synthetic market trades: market days (KRX holidays, weekends) and the sessions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import holidays

from observer.clock import KST, NS_PER_S
from observer.sim.exceptions import SimConfigError

# How each session trades, by its name in OBSERVER_SESSION_SCHEDULE.
#   continuous: trades all along, busier at the open and the close (plus the opening print)
#   closing_print: one auction print at the end of the session
#   fixed_price: trades at the last price only
#   periodic: single-price prints every 10 minutes
#   none: no trades (call auction order entry)
SESSION_MODES: dict[str, str] = {
    "pre_open": "none",
    "regular": "continuous",
    "closing_auction": "closing_print",
    "closing_price": "fixed_price",
    "after_hours": "periodic",
}
# NEW_MKOP_CLS_CODE sent with trades of each session.
SESSION_CODES: dict[str, str] = {
    "pre_open": "10",
    "regular": "20",
    "closing_auction": "20",
    "closing_price": "31",
    "after_hours": "40",
}
PERIODIC_SECONDS = 600
FIRST_DAY_OPEN = time(10, 0)  # the first trading day of the year opens an hour late
# Share of the regular-session rate in the other trading sessions.
FIXED_PRICE_RATE = 0.03


@dataclass(frozen=True, slots=True)
class Segment:
    """One session of one business day, as epoch nanoseconds [start, end)."""

    name: str
    mode: str
    code: str
    start_ns: int
    end_ns: int

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


def parse_schedule(text: str) -> list[tuple[str, time, time]]:
    """``name=HH:MM-HH:MM,...`` as (name, start, end), in order."""
    sessions = []
    for part in text.split(","):
        name, _, span = part.strip().partition("=")
        start, _, end = span.partition("-")
        try:
            begin, finish = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
        except ValueError as exc:
            raise SimConfigError(f"bad session {part!r} in the schedule: {exc}") from exc
        if not name or finish <= begin:
            raise SimConfigError(f"bad session {part!r} in the schedule")
        sessions.append((name.strip(), begin, finish))
    return sessions


class TradingCalendar:
    """KRX market days (weekends and ``financial_holidays("XKRX")`` closed) and sessions."""

    def __init__(self, schedule: str) -> None:
        self._sessions = parse_schedule(schedule)
        self._holidays: dict[int, set[date]] = {}

    def is_market_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        if day.year not in self._holidays:
            listed = holidays.financial_holidays("XKRX", years=day.year)
            self._holidays[day.year] = set(listed)
        return day not in self._holidays[day.year]

    def business_day(self, when: datetime) -> date:
        """The market day whose trades ``when`` shows: today, or the last market day."""
        day = when.astimezone(KST).date()
        while not self.is_market_day(day):
            day -= timedelta(days=1)
        return day

    def first_market_day(self, year: int) -> date:
        day = date(year, 1, 1)
        while not self.is_market_day(day):
            day += timedelta(days=1)
        return day

    def sessions_on(self, day: date) -> list[tuple[str, time, time]]:
        """The day's (name, start, end): the schedule, its morning delayed on the year's first day.

        On that day every session starting before 10:00 starts an hour later; its end moves too
        when it ended by the old open (pre-open 08:30-09:00 -> 09:30-10:00), else it stays.
        """
        if day != self.first_market_day(day.year):
            return list(self._sessions)
        regular = [begin for name, begin, _ in self._sessions if name == "regular"]
        old_open = _minutes(regular[0] if regular else min(b for _, b, _ in self._sessions))
        delay = _minutes(FIRST_DAY_OPEN) - old_open
        if delay <= 0:
            return list(self._sessions)
        result = []
        for name, begin, finish in self._sessions:
            if begin >= FIRST_DAY_OPEN:
                result.append((name, begin, finish))
                continue
            start = _minutes(begin) + delay
            end = _minutes(finish) + delay if _minutes(finish) <= old_open else _minutes(finish)
            if start < end:
                result.append((name, _clock(start), _clock(end)))
        return result

    def segments(self, day: date) -> list[Segment]:
        """The day's sessions (empty on a closed day)."""
        if not self.is_market_day(day):
            return []
        result = []
        for name, begin, finish in self.sessions_on(day):
            start = datetime.combine(day, begin, KST)
            end = datetime.combine(day, finish, KST)
            result.append(
                Segment(
                    name,
                    SESSION_MODES.get(name, "none"),
                    SESSION_CODES.get(name, "20"),
                    int(start.timestamp()) * NS_PER_S,
                    int(end.timestamp()) * NS_PER_S,
                )
            )
        return result

    def session_at(self, when: datetime) -> str | None:
        """The session name at ``when``, or None outside sessions and on closed days."""
        ns = int(when.timestamp() * NS_PER_S)
        for segment in self.segments(when.astimezone(KST).date()):
            if segment.start_ns <= ns < segment.end_ns:
                return segment.name
        return None


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def intraday_profile(fraction: float) -> float:
    """Relative trade intensity through the regular session (mean about 1): U-shaped."""
    x = min(1.0, max(0.0, fraction))
    return (0.45 + 2.6 * math.exp(-x / 0.035) + 1.4 * math.exp(-(1 - x) / 0.04)) / 0.597
