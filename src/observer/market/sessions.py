"""Trading sessions: the schedule syntax and the sessions of one day.

A schedule is ``name=HH:MM-HH:MM`` items separated by commas, in time order, without overlaps
(gaps between sessions are allowed), e.g. the default ``OBSERVER_SESSION_SCHEDULE``::

    pre_open=08:30-09:00,regular=09:00-15:20,closing_auction=15:20-15:30,
    closing_price=15:40-16:00,after_hours=16:00-18:00

Times are KST wall-clock times. ``24:00`` is accepted as an end (midnight at the end of the day).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from observer.clock import KST
from observer.market.exceptions import CalendarError

SCHEDULE_SETTING = "OBSERVER_SESSION_SCHEDULE"
MINUTES_PER_DAY = 24 * 60
_ITEM = re.compile(r"^([a-z][a-z0-9_]*)=(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One session of a schedule as minutes after KST midnight (end exclusive)."""

    name: str
    start_minute: int
    end_minute: int

    def shifted(self, minutes: int) -> SessionSpec:
        return SessionSpec(self.name, self.start_minute + minutes, self.end_minute + minutes)

    def text(self) -> str:
        return f"{self.name}={_hhmm(self.start_minute)}-{_hhmm(self.end_minute)}"


@dataclass(frozen=True, slots=True)
class Session:
    """One session on one day: ``start`` inclusive, ``end`` exclusive, both aware KST datetimes."""

    name: str
    start: datetime
    end: datetime

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute(hours: str, minutes: str, item: str, source: str) -> int:
    h, m = int(hours), int(minutes)
    if m >= 60 or h > 24 or (h == 24 and m != 0):
        raise CalendarError(source, f"{item!r}: {hours}:{minutes} is not a time of day")
    return h * 60 + m


def parse_schedule(text: str, source: str = SCHEDULE_SETTING) -> tuple[SessionSpec, ...]:
    """Parse and validate a schedule; errors name ``source`` and the offending item."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise CalendarError(source, "the schedule is empty; expected name=HH:MM-HH:MM,...")
    specs: list[SessionSpec] = []
    for item in items:
        match = _ITEM.match(item)
        if match is None:
            raise CalendarError(
                source, f"{item!r} is not name=HH:MM-HH:MM (lower-case name, 24-hour times)"
            )
        name, h1, m1, h2, m2 = match.groups()
        specs.append(
            SessionSpec(name, _minute(h1, m1, item, source), _minute(h2, m2, item, source))
        )
    validate_specs(specs, source)
    return tuple(specs)


def validate_specs(specs: Sequence[SessionSpec], source: str) -> None:
    """Check that sessions are non-empty, unique by name, in order, and do not overlap."""
    seen: set[str] = set()
    previous: SessionSpec | None = None
    for spec in specs:
        if spec.name in seen:
            raise CalendarError(source, f"session {spec.name!r} appears twice")
        seen.add(spec.name)
        if not 0 <= spec.start_minute < spec.end_minute <= MINUTES_PER_DAY:
            raise CalendarError(
                source, f"{spec.text()!r}: a session must start before it ends, within one day"
            )
        if previous is not None and spec.start_minute < previous.end_minute:
            raise CalendarError(
                source,
                f"{spec.text()!r} starts before {previous.text()!r} ends "
                "(sessions must be in time order without overlap)",
            )
        previous = spec


def format_schedule(specs: Sequence[SessionSpec]) -> str:
    """The schedule text of ``specs`` (the inverse of :func:`parse_schedule`)."""
    return ",".join(spec.text() for spec in specs)


def shift_specs(specs: Sequence[SessionSpec], minutes: int, source: str) -> tuple[SessionSpec, ...]:
    """Every session moved by ``minutes`` (e.g. +60 on the college entrance exam day)."""
    shifted = tuple(spec.shifted(minutes) for spec in specs)
    validate_specs(shifted, source)
    return shifted


def delay_morning(specs: Sequence[SessionSpec], open_minute: int) -> tuple[SessionSpec, ...]:
    """The first-trading-day rule: the morning starts ``delay`` later, the afternoon is unchanged.

    With ``delay`` = the regular open moved to ``open_minute`` (e.g. 10:00 instead of 09:00 = 60
    minutes): every session that starts before ``open_minute`` starts ``delay`` later; its end
    moves too when it ended at or before the old open (the pre-open 08:30-09:00 becomes
    09:30-10:00), otherwise it stays (the regular session becomes 10:00-15:20). A session left
    with nothing (start >= end) is dropped for that day.
    """
    regular = next((s for s in specs if s.name == "regular"), None)
    old_open = regular.start_minute if regular is not None else min(s.start_minute for s in specs)
    delay = open_minute - old_open
    if delay <= 0:
        return tuple(specs)
    out: list[SessionSpec] = []
    for spec in specs:
        if spec.start_minute >= open_minute:
            out.append(spec)
            continue
        end = spec.end_minute + delay if spec.end_minute <= old_open else spec.end_minute
        start = spec.start_minute + delay
        if start < end:
            out.append(SessionSpec(spec.name, start, end))
    return tuple(out)


def sessions_for(day: date, specs: Sequence[SessionSpec]) -> list[Session]:
    """The specs placed on ``day`` as aware KST datetimes."""
    midnight = datetime.combine(day, time(0), KST)
    return [
        Session(
            spec.name,
            midnight + timedelta(minutes=spec.start_minute),
            midnight + timedelta(minutes=spec.end_minute),
        )
        for spec in specs
    ]
