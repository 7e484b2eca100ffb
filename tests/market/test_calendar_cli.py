"""``observer calendar``: a day's sessions or why closed, a year's holidays with overrides."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from observer.cli.market_cmd import COMMANDS, calendar_command


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(calendar_command, list(args), env={"OBSERVER_HOME": str(home)})


def test_calendar_is_a_command_of_the_area() -> None:
    assert calendar_command in COMMANDS


def test_day_sessions(home: Path) -> None:
    result = run(home, "--date", "2026-01-02")
    assert result.exit_code == 0, result.output
    assert "2026-01-02 (Fri): trading day [first trading day of the year]" in result.output
    assert "regular          10:00 - 15:20 KST" in result.output
    assert "pre_open         09:30 - 10:00 KST" in result.output


def test_closed_day_says_why(home: Path) -> None:
    result = run(home, "--date", "2026-02-17")
    assert result.exit_code == 0, result.output
    assert "closed (holiday: Korean New Year)" in result.output
    assert "next trading day: 2026-02-19" in result.output
    assert "closed (weekend)" in run(home, "--date", "2026-01-03").output


def test_year_listing_with_overrides_marked(home: Path) -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "holidays.yaml").write_text(
        "close:\n  2026-01-07: outage\nopen:\n  - 2026-05-01\nshift:\n  2026-11-19: 60\n",
        encoding="utf-8",
    )
    result = run(home, "--year", "2026")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(
        "2026-01-07" in line and "closed" in line and "override: closed" in line for line in lines
    )
    assert any(
        "2026-05-01" in line and "open" in line and "override: open" in line for line in lines
    )
    assert any("2026-11-19" in line and "override: +60 min" in line for line in lines)
    assert any("2026-12-31" in line and "End of Year Holiday" in line for line in lines)
    assert "first trading day: 2026-01-02, first session 09:30" in result.output


def test_corrupt_override_file_exits_2_naming_it(home: Path) -> None:
    config = home / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "holidays.yaml").write_text("shift:\n  2026-11-19: soon\n", encoding="utf-8")
    result = run(home, "--date", "2026-11-19")
    assert result.exit_code == 2
    assert "holidays.yaml" in result.output and "shift.2026-11-19" in result.output


def test_today_uses_the_process_clock_and_shows_the_state(home: Path) -> None:
    result = CliRunner().invoke(
        calendar_command,
        [],
        env={"OBSERVER_HOME": str(home), "OBSERVER_CLOCK_START": "2026-01-05T15:35:00+09:00"},
    )
    assert result.exit_code == 0, result.output
    assert "2026-01-05 (Mon): trading day" in result.output
    assert "between sessions; next idle -> closing_price at 2026-01-05 15:40" in result.output
