"""The holiday override file: closures, openings, shifted and custom days, clear errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from observer.market.calendar import MarketCalendar
from observer.market.exceptions import CalendarError

OVERRIDES = """\
# corrections for 2026
close:
  2026-01-07: trading system outage
open:
  - 2026-05-01          # Labor Day: open this year
shift:
  2026-11-19: 60        # college entrance exam day
schedule:
  "2026-12-30": regular=10:00-15:30,closing_auction=15:30-15:40
"""


def write_overrides(settings: Any, text: str) -> Path:
    path = Path(settings.config_dir) / "holidays.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def times(calendar: MarketCalendar, day: date) -> list[tuple[str, str, str]]:
    return [(s.name, f"{s.start:%H:%M}", f"{s.end:%H:%M}") for s in calendar.sessions_on(day)]


@pytest.fixture
def calendar(make_settings: Any) -> MarketCalendar:
    settings = make_settings()
    write_overrides(settings, OVERRIDES)
    return MarketCalendar(settings)


def test_missing_file_means_no_overrides(make_settings: Any) -> None:
    calendar = MarketCalendar(make_settings())
    assert calendar.overrides.path is None
    assert calendar.is_trading_day(date(2026, 1, 7))


def test_added_closure(calendar: MarketCalendar) -> None:
    assert calendar.closed_reason(date(2026, 1, 7)) == "holiday: trading system outage"
    assert calendar.next_trading_day(date(2026, 1, 6)) == date(2026, 1, 8)


def test_removed_holiday_opens_with_the_ordinary_schedule(calendar: MarketCalendar) -> None:
    assert calendar.is_trading_day(date(2026, 5, 1))
    assert times(calendar, date(2026, 5, 1))[1] == ("regular", "09:00", "15:20")
    assert calendar.day(date(2026, 5, 1)).note == "open despite Labor Day"


def test_shifted_day_moves_every_session(calendar: MarketCalendar) -> None:
    assert times(calendar, date(2026, 11, 19)) == [
        ("pre_open", "09:30", "10:00"),
        ("regular", "10:00", "16:20"),
        ("closing_auction", "16:20", "16:30"),
        ("closing_price", "16:40", "17:00"),
        ("after_hours", "17:00", "19:00"),
    ]
    assert calendar.day(date(2026, 11, 19)).note == "shifted +60 min"
    assert times(calendar, date(2026, 11, 20))[1] == ("regular", "09:00", "15:20")


def test_custom_schedule_for_one_day(calendar: MarketCalendar) -> None:
    assert times(calendar, date(2026, 12, 30)) == [
        ("regular", "10:00", "15:30"),
        ("closing_auction", "15:30", "15:40"),
    ]


def test_year_listing_marks_overrides(calendar: MarketCalendar) -> None:
    entries = {entry.day: entry for entry in calendar.holidays_in(2026)}
    assert entries[date(2026, 1, 7)].mark == "override: closed"
    assert entries[date(2026, 1, 7)].closed
    assert entries[date(2026, 5, 1)].mark == "override: open"
    assert not entries[date(2026, 5, 1)].closed
    assert entries[date(2026, 11, 19)].mark == "override: +60 min"
    assert entries[date(2026, 12, 30)].mark == "override: schedule"
    assert entries[date(2026, 2, 17)].mark is None and entries[date(2026, 2, 17)].closed
    assert list(entries) == sorted(entries)


def test_closing_the_first_trading_day_moves_the_late_open(make_settings: Any) -> None:
    settings = make_settings()
    write_overrides(settings, "close:\n  2026-01-02: system migration\n")
    calendar = MarketCalendar(settings)
    assert calendar.first_trading_day(2026) == date(2026, 1, 5)
    assert times(calendar, date(2026, 1, 5))[1] == ("regular", "10:00", "15:20")


def test_an_empty_file_is_no_overrides(make_settings: Any) -> None:
    settings = make_settings()
    write_overrides(settings, "# nothing yet\n")
    assert MarketCalendar(settings).overrides.close == {}


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("close:\n  2026-01-07: [unclosed\n", "line 3", "not valid YAML"),
        ("closed:\n  2026-01-07: x\n", "closed", "unknown section"),
        ("- 2026-01-07\n", "", "top level must be a mapping"),
        ("close:\n  2026-13-07: x\n", "close", "not a date"),
        ("close:\n  2026-01-07: ''\n", "close.2026-01-07", "expected text"),
        ("open: 2026-01-07\n", "open", "list of dates"),
        ("shift:\n  2026-11-19: one hour\n", "shift.2026-11-19", "whole minutes"),
        ("shift:\n  2026-11-19: 0\n", "shift.2026-11-19", "non-zero"),
        ("shift:\n  2026-11-19: 480\n", "shift.2026-11-19", "within one day"),
        ("schedule:\n  2026-12-30: regular=10:00\n", "schedule.2026-12-30", "name=HH:MM"),
        ("close:\n  2026-11-19: x\nshift:\n  2026-11-19: 60\n", "shift", "in both"),
        ("shift:\n  2026-11-22: 60\n", "shift.2026-11-22", "closed \\(weekend\\)"),
        ("shift:\n  2026-12-31: 60\n", "shift.2026-12-31", "End of Year Holiday"),
    ],
)
def test_corrupt_file_names_file_and_key(
    make_settings: Any, text: str, where: str, problem: str
) -> None:
    settings = make_settings()
    path = write_overrides(settings, text)
    with pytest.raises(CalendarError, match=problem) as caught:
        MarketCalendar(settings)
    assert str(path) in str(caught.value)
    assert where in str(caught.value)


def test_a_custom_schedule_opens_a_closed_day(make_settings: Any) -> None:
    settings = make_settings()
    write_overrides(settings, "schedule:\n  2026-12-31: regular=10:00-12:00\n")
    calendar = MarketCalendar(settings)
    assert calendar.is_trading_day(date(2026, 12, 31))
    assert times(calendar, date(2026, 12, 31)) == [("regular", "10:00", "12:00")]
    assert calendar.day(date(2026, 12, 31)).note == "custom schedule"
