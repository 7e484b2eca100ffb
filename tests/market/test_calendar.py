"""The market calendar: KRX holidays, sessions, first trading day, transitions, state."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observer.clock import KST
from observer.market.calendar import MarketCalendar, Transition
from observer.market.exceptions import CalendarError, MarketError
from observer.market.sessions import format_schedule, parse_schedule


def kst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KST)


def times(calendar: MarketCalendar, day: date) -> list[tuple[str, str, str]]:
    return [(s.name, f"{s.start:%H:%M}", f"{s.end:%H:%M}") for s in calendar.sessions_on(day)]


@pytest.fixture
def calendar(make_settings: Any) -> MarketCalendar:
    return MarketCalendar(make_settings())


ORDINARY = [
    ("pre_open", "08:30", "09:00"),
    ("regular", "09:00", "15:20"),
    ("closing_auction", "15:20", "15:30"),
    ("closing_price", "15:40", "16:00"),
    ("after_hours", "16:00", "18:00"),
]


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "New Year's Day"),
        (date(2026, 2, 16), "The day preceding Korean New Year"),
        (date(2026, 2, 17), "Korean New Year"),
        (date(2026, 2, 18), "The second day of Korean New Year"),
        (date(2026, 3, 2), "Alternative holiday for Independence Movement Day"),
        (date(2026, 5, 1), "Labor Day"),
        (date(2026, 5, 5), "Children's Day"),
        (date(2026, 5, 25), "Alternative holiday for Buddha's Birthday"),
        (date(2026, 6, 3), "Local Election Day"),
        (date(2026, 8, 17), "Alternative holiday for Liberation Day"),
        (date(2026, 9, 24), "The day preceding Chuseok"),
        (date(2026, 9, 25), "Chuseok"),
        (date(2026, 10, 5), "Alternative holiday for National Foundation Day"),
        (date(2026, 10, 9), "Hangul Day"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2026, 12, 31), "End of Year Holiday"),
    ],
)
def test_2026_krx_holidays_are_closed(calendar: MarketCalendar, day: date, name: str) -> None:
    assert not calendar.is_trading_day(day)
    assert calendar.closed_reason(day) == f"holiday: {name}"
    assert calendar.sessions_on(day) == []


def test_weekends_and_ordinary_days(calendar: MarketCalendar) -> None:
    # The third day of Chuseok 2026 is a Saturday: closed as a weekend, no substitute on Monday.
    assert calendar.closed_reason(date(2026, 9, 26)) == "weekend"
    assert calendar.closed_reason(date(2026, 9, 27)) == "weekend"
    assert calendar.is_trading_day(date(2026, 9, 28))
    assert calendar.is_trading_day(date(2026, 3, 3))
    assert calendar.is_trading_day(date(2026, 12, 30))
    assert times(calendar, date(2026, 1, 5)) == ORDINARY


def test_first_trading_day_of_2026_opens_at_ten(calendar: MarketCalendar) -> None:
    assert calendar.first_trading_day(2026) == date(2026, 1, 2)
    assert times(calendar, date(2026, 1, 2)) == [
        ("pre_open", "09:30", "10:00"),
        ("regular", "10:00", "15:20"),
        ("closing_auction", "15:20", "15:30"),
        ("closing_price", "15:40", "16:00"),
        ("after_hours", "16:00", "18:00"),
    ]
    assert calendar.day(date(2026, 1, 2)).note == "first trading day of the year"
    assert calendar.session_at(kst("2026-01-02T09:45:00")).name == "pre_open"  # type: ignore[union-attr]
    assert calendar.state(kst("2026-01-02T09:10:00")).idle_reason == "before open"
    assert calendar.first_trading_day(2027) == date(2027, 1, 4)
    assert times(calendar, date(2027, 1, 4))[1] == ("regular", "10:00", "15:20")


def test_session_boundaries_are_start_inclusive_end_exclusive(calendar: MarketCalendar) -> None:
    def name(text: str) -> str | None:
        session = calendar.session_at(kst(text))
        return None if session is None else session.name

    assert name("2026-01-05T08:29:59") is None
    assert name("2026-01-05T08:30:00") == "pre_open"
    assert name("2026-01-05T08:59:59.999") == "pre_open"
    assert name("2026-01-05T09:00:00") == "regular"
    assert name("2026-01-05T15:20:00") == "closing_auction"
    assert name("2026-01-05T15:30:00") is None
    assert name("2026-01-05T17:59:59") == "after_hours"
    assert name("2026-01-05T18:00:00") is None
    # Another zone is converted: 00:00 UTC is 09:00 KST.
    utc = datetime.fromisoformat("2026-01-05T00:00:00+00:00")
    assert calendar.session_at(utc).name == "regular"  # type: ignore[union-attr]


def test_next_transition_within_a_day_and_across_a_weekend(calendar: MarketCalendar) -> None:
    assert calendar.next_transition(kst("2026-01-09T12:00:00")) == Transition(
        kst("2026-01-09T15:20:00"), "regular -> closing_auction"
    )
    assert calendar.next_transition(kst("2026-01-09T15:25:00")) == Transition(
        kst("2026-01-09T15:30:00"), "closing_auction -> idle"
    )
    assert calendar.next_transition(kst("2026-01-09T15:30:00")) == Transition(
        kst("2026-01-09T15:40:00"), "idle -> closing_price"
    )
    assert calendar.next_transition(kst("2026-01-09T17:00:00")) == Transition(
        kst("2026-01-09T18:00:00"), "after_hours -> idle"
    )
    # Friday evening -> Monday pre-open.
    assert calendar.next_transition(kst("2026-01-09T18:00:00")) == Transition(
        kst("2026-01-12T08:30:00"), "idle -> pre_open"
    )
    # Across Seollal (Mon-Wed holidays after a weekend): the next open is Thursday.
    assert calendar.next_transition(kst("2026-02-13T20:00:00")).at == kst("2026-02-19T08:30:00")


def test_next_and_previous_trading_day(calendar: MarketCalendar) -> None:
    assert calendar.next_trading_day(date(2026, 2, 13)) == date(2026, 2, 19)
    assert calendar.previous_trading_day(date(2026, 2, 19)) == date(2026, 2, 13)
    assert calendar.next_trading_day(date(2026, 12, 30)) == date(2027, 1, 4)
    assert calendar.next_trading_day(date(2026, 1, 5)) == date(2026, 1, 6)


@pytest.mark.parametrize(
    ("at", "trading", "session", "idle"),
    [
        ("2026-01-10T11:00:00", False, None, "weekend"),
        ("2026-02-17T11:00:00", False, None, "holiday: Korean New Year"),
        ("2026-01-05T07:00:00", True, None, "before open"),
        ("2026-01-05T15:35:00", True, None, "between sessions"),
        ("2026-01-05T19:00:00", True, None, "after close"),
        ("2026-01-05T10:00:00", True, "regular", None),
    ],
)
def test_state_says_why_idle(
    calendar: MarketCalendar, at: str, trading: bool, session: str | None, idle: str | None
) -> None:
    state = calendar.state(kst(at))
    assert (state.trading_day, state.session, state.idle_reason) == (trading, session, idle)
    status = state.status()
    assert status["session"] == session and status["idle_reason"] == idle
    assert status["next_transition"]["at"] == state.next_transition.at.isoformat()  # type: ignore[union-attr]


def test_state_status_shape(calendar: MarketCalendar) -> None:
    status = calendar.state(kst("2026-01-10T11:00:00")).status()
    assert status == {
        "trading_day": False,
        "session": None,
        "idle_reason": "weekend",
        "next_transition": {"at": "2026-01-12T08:30:00+09:00", "what": "idle -> pre_open"},
        "next_session": {"name": "pre_open", "at": "2026-01-12T08:30:00+09:00"},
    }


def test_naive_datetimes_are_refused(calendar: MarketCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        calendar.session_at(datetime(2026, 1, 5, 10, 0))


def test_configured_schedule_is_used(make_settings: Any) -> None:
    settings = make_settings(
        OBSERVER_SESSION_SCHEDULE=(
            "pre_open=08:00-09:00, regular=09:00-16:00,after_hours=16:10-20:00"
        )
    )
    calendar = MarketCalendar(settings)
    assert times(calendar, date(2026, 1, 6)) == [
        ("pre_open", "08:00", "09:00"),
        ("regular", "09:00", "16:00"),
        ("after_hours", "16:10", "20:00"),
    ]
    assert format_schedule(calendar.schedule) == (
        "pre_open=08:00-09:00,regular=09:00-16:00,after_hours=16:10-20:00"
    )


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("", "empty"),
        ("regular=9:00", "not name=HH:MM-HH:MM"),
        ("Regular=09:00-15:20", "not name=HH:MM-HH:MM"),
        ("regular=09:00-25:00", "not a time of day"),
        ("regular=09:61-15:00", "not a time of day"),
        ("regular=15:00-09:00", "must start before it ends"),
        ("regular=09:00-15:20,regular=15:20-15:30", "appears twice"),
        ("pre_open=08:30-09:10,regular=09:00-15:20", "starts before"),
        ("regular=09:00-15:20,pre_open=08:30-09:00", "starts before"),
    ],
)
def test_bad_schedules_name_the_setting(make_settings: Any, schedule: str, problem: str) -> None:
    settings = make_settings(OBSERVER_SESSION_SCHEDULE=schedule or " ")
    with pytest.raises(CalendarError, match=problem) as caught:
        MarketCalendar(settings)
    assert str(caught.value).startswith("OBSERVER_SESSION_SCHEDULE")
    assert isinstance(caught.value, MarketError)


def test_schedule_round_trip_and_midnight_end() -> None:
    specs = parse_schedule("night=18:00-24:00")
    assert format_schedule(specs) == "night=18:00-24:00"
    assert specs[0].end_minute == 24 * 60


def test_holiday_source_is_injectable(make_settings: Any) -> None:
    calendar = MarketCalendar(
        make_settings(), holiday_source=lambda year: {date(year, 3, 4): "Test closure"}
    )
    assert calendar.closed_reason(date(2026, 3, 4)) == "holiday: Test closure"
    assert calendar.is_trading_day(date(2026, 1, 1))  # the injected list replaces the package's
    assert calendar.first_trading_day(2026) == date(2026, 1, 1)
    assert calendar.sessions_on(date(2026, 1, 1))[0].start.time() == time(9, 30)


@pytest.fixture(scope="module")
def shared_calendar(tmp_path_factory: pytest.TempPathFactory) -> MarketCalendar:
    from observer.config.settings import settings_for_tests

    return MarketCalendar(settings_for_tests(tmp_path_factory.mktemp("calendar")))


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2025, 12, 20), max_value=datetime(2027, 12, 20), timezones=st.just(KST)
    )
)
def test_transitions_agree_with_sessions(shared_calendar: MarketCalendar, when: datetime) -> None:
    calendar = shared_calendar
    current = calendar.session_at(when)
    if current is not None:
        assert current.contains(when)
        assert calendar.is_trading_day(when.date())
    at, what = calendar.next_transition(when)
    before, after = what.split(" -> ")
    assert at > when and before != after
    assert before == (current.name if current is not None else "idle")
    arrived = calendar.session_at(at)
    assert (arrived.name if arrived is not None else "idle") == after
    just_before = calendar.session_at(at - timedelta(microseconds=1))
    assert (just_before.name if just_before is not None else "idle") == before
    state = calendar.state(when)
    assert (state.session is None) == (state.idle_reason is not None)
    if state.next_session is not None:
        assert state.next_session.start > when
        assert calendar.is_trading_day(state.next_session.start.date())
