"""`observer` commands of the market area: ``calendar`` (and the universe commands)."""

from __future__ import annotations

from datetime import date, datetime

import click

from observer.cli.context import EXIT_CONFIG, clock_from, exit_with, load_or_exit
from observer.cli.universe_cmd import universe_group
from observer.market.calendar import MarketCalendar, krx_holiday_years
from observer.market.exceptions import CalendarError


@click.command("calendar")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Show this day's sessions (default: today, KST).",
)
@click.option("--year", type=int, help="List this year's holidays, overrides applied and marked.")
def calendar_command(day: datetime | None, year: int | None) -> None:
    """Print a day's sessions (or why the market is closed), or a year's holidays."""
    settings = load_or_exit().settings
    try:
        calendar = MarketCalendar(settings)
    except CalendarError as err:
        exit_with(f"config error: {err}", EXIT_CONFIG)
    first, last = krx_holiday_years()
    asked = [y for y in (year, day.year if day is not None else None) if y is not None]
    for y in asked:
        if not first <= y <= last:
            exit_with(
                f"calendar: {y} is outside the years the KRX holiday data covers"
                f" ({first}-{last}); its trading days are unknown",
                EXIT_CONFIG,
            )
    if year is not None:
        _print_year(calendar, year)
        if day is None:
            return
    if day is not None:
        _print_day(calendar, day.date())
        return
    now = clock_from(settings).now()
    _print_day(calendar, now.date())
    state = calendar.state(now)
    doing = state.session or state.idle_reason
    upcoming = state.next_transition
    after = f"; next {upcoming.what} at {upcoming.at:%Y-%m-%d %H:%M}" if upcoming else ""
    click.echo(f"now {now:%H:%M:%S}: {doing}{after}")


def _print_day(calendar: MarketCalendar, day: date) -> None:
    info = calendar.day(day)
    header = f"{day.isoformat()} ({day.strftime('%a')})"
    if not info.trading:
        click.echo(f"{header}: closed ({info.closed_reason})")
        click.echo(f"next trading day: {calendar.next_trading_day(day).isoformat()}")
        return
    note = f" [{info.note}]" if info.note else ""
    click.echo(f"{header}: trading day{note}")
    for session in info.sessions:
        click.echo(f"  {session.name:<16} {session.start:%H:%M} - {session.end:%H:%M} KST")


def _print_year(calendar: MarketCalendar, year: int) -> None:
    entries = calendar.holidays_in(year)
    source = calendar.override_path if calendar.overrides.path else "none"
    click.echo(f"{year}: KRX holidays and overrides (override file: {source})")
    for entry in entries:
        state = "closed" if entry.closed else "open  "
        mark = f"  <- {entry.mark}" if entry.mark else ""
        click.echo(f"  {entry.day.isoformat()} {entry.day:%a}  {state}  {entry.name}{mark}")
    first = calendar.first_trading_day(year)
    if first is not None:
        opening = calendar.sessions_on(first)
        starts = f", first session {opening[0].start:%H:%M}" if opening else ""
        click.echo(f"  first trading day: {first.isoformat()}{starts}")


COMMANDS: list[click.Command] = [calendar_command, universe_group]
