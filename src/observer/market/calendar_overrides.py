"""The calendar override file: ``<OBSERVER_CONFIG_DIR>/holidays.yaml``.

Corrections to the packaged KRX holiday list and special days, all optional::

    close:                      # extra closures: date -> reason
      2026-06-03: local election
    open:                       # listed holidays on which the market opens anyway
      - 2026-05-01
    shift:                      # move every session of a day by N minutes
      2026-11-19: 60            #   college entrance exam day: every time one hour later
    schedule:                   # a complete schedule for one day (OBSERVER_SESSION_SCHEDULE syntax)
      2026-12-30: regular=10:00-15:30,closing_auction=15:30-15:40

Dates are KST calendar days (``YYYY-MM-DD``). A date may appear in only one section. A missing
file means no overrides; a file that cannot be used stops start-up with an error naming the file
and the line or key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from observer.market.exceptions import CalendarError
from observer.market.sessions import SessionSpec, parse_schedule, shift_specs

OVERRIDE_FILE_NAME = "holidays.yaml"
SECTIONS = ("close", "open", "shift", "schedule")
MAX_SHIFT_MINUTES = 12 * 60
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _TextDateLoader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so a bad date is reported with its key here."""


_TextDateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class CalendarOverrides:
    """What the override file says, validated."""

    path: Path | None = None
    close: dict[date, str] = field(default_factory=dict)
    open: frozenset[date] = frozenset()
    shift: dict[date, int] = field(default_factory=dict)
    schedule: dict[date, tuple[SessionSpec, ...]] = field(default_factory=dict)


def load_overrides(path: Path, base: tuple[SessionSpec, ...]) -> CalendarOverrides:
    """Read and validate the override file at ``path`` (none there: no overrides)."""
    if not path.exists():
        return CalendarOverrides()
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(source, f"cannot be read: {exc}") from exc
    try:
        document = yaml.load(text, Loader=_TextDateLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise CalendarError(source, f"not valid YAML: {problem}", where) from exc
    return parse_overrides(document, source, base, path)


def parse_overrides(
    document: Any, source: str, base: tuple[SessionSpec, ...], path: Path | None = None
) -> CalendarOverrides:
    """Validate a loaded override document (a mapping of the four sections)."""
    if document is None:
        return CalendarOverrides(path=path)
    if not isinstance(document, dict):
        raise CalendarError(source, "the top level must be a mapping of close/open/shift/schedule")
    unknown = sorted(str(key) for key in document if key not in SECTIONS)
    if unknown:
        raise CalendarError(source, f"unknown section (expected {', '.join(SECTIONS)})", unknown[0])
    close = {
        _date(key, source, "close"): _text(value, source, f"close.{key}")
        for key, value in _mapping(document.get("close"), source, "close").items()
    }
    opened = frozenset(_date(item, source, "open") for item in _list(document.get("open"), source))
    shift: dict[date, int] = {}
    for key, value in _mapping(document.get("shift"), source, "shift").items():
        day = _date(key, source, "shift")
        minutes = _minutes(value, source, f"shift.{key}")
        shift_specs(base, minutes, f"{source} (shift.{key})")
        shift[day] = minutes
    schedule = {
        _date(key, source, "schedule"): parse_schedule(
            _text(value, source, f"schedule.{key}"), f"{source} (schedule.{key})"
        )
        for key, value in _mapping(document.get("schedule"), source, "schedule").items()
    }
    _check_disjoint(
        source, close=set(close), open=set(opened), shift=set(shift), schedule=set(schedule)
    )
    return CalendarOverrides(path, close, opened, shift, schedule)


def _check_disjoint(source: str, **sections: set[date]) -> None:
    names = list(sections)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            both = sorted(sections[first] & sections[second])
            if both:
                raise CalendarError(
                    source, f"{both[0].isoformat()} is in both {first!r} and {second!r}", second
                )


def _mapping(value: Any, source: str, key: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CalendarError(source, "must be a mapping of date: value", key)
    return value


def _list(value: Any, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CalendarError(source, "must be a list of dates", "open")
    return value


def _date(value: Any, source: str, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(source, f"{value!r} is not a date (YYYY-MM-DD)", key) from exc


def _text(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CalendarError(source, f"expected text, got {value!r}", key)
    return value.strip()


def _minutes(value: Any, source: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CalendarError(source, f"expected whole minutes, got {value!r}", key)
    if value == 0 or abs(value) > MAX_SHIFT_MINUTES:
        raise CalendarError(
            source, f"a shift must be non-zero and at most {MAX_SHIFT_MINUTES} minutes", key
        )
    return value
