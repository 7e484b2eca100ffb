"""Universe snapshots on disk: ``<snapshot_dir>/YYYYMMDD_universe.json``.

A snapshot is written atomically (temporary file, fsync, rename, fsync of the directory), so a
crash leaves either the old file or the complete new one. Snapshots older than the retention
period are removed when a new one is written.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from observer.durable import replace_file
from observer.market.exceptions import SnapshotError

log = logging.getLogger(__name__)
SNAPSHOT_SUFFIX = "_universe.json"
_NAME = re.compile(r"^(\d{8})_universe\.json$")


@dataclass(frozen=True, slots=True)
class UniverseSymbol:
    """One symbol of the universe."""

    code: str
    market: str
    name: str
    prev_close: int
    fund: bool = False  # ETF or ETN (5 KRW tick)


@dataclass(slots=True)
class Universe:
    """The day's symbols plus how they were chosen."""

    day: date
    symbols: list[UniverseSymbol]
    source: str
    generated_at: str
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    fallback: bool = False
    fallback_from: str | None = None

    @property
    def codes(self) -> list[str]:
        return [s.code for s in self.symbols]

    def markets(self) -> dict[str, str]:
        """Symbol code -> market (KOSPI / KOSDAQ)."""
        return {s.code: s.market for s in self.symbols}

    def to_json(self) -> bytes:
        obj = {
            "date": self.day.strftime("%Y%m%d"),
            "generated_at": self.generated_at,
            "source": self.source,
            "counts": self.counts,
            "settings": self.settings,
            "size": len(self.symbols),
            "symbols": [
                {
                    "code": s.code,
                    "market": s.market,
                    "name": s.name,
                    "prev_close": s.prev_close,
                    "fund": s.fund,
                }
                for s in self.symbols
            ],
        }
        return orjson.dumps(obj, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Universe:
        obj = orjson.loads(data)
        return cls(
            day=datetime.strptime(obj["date"], "%Y%m%d").date(),
            symbols=[
                UniverseSymbol(
                    str(s["code"]),
                    str(s["market"]),
                    str(s.get("name", "")),
                    int(s["prev_close"]),
                    bool(s.get("fund", False)),
                )
                for s in obj["symbols"]
            ],
            source=str(obj["source"]),
            generated_at=str(obj["generated_at"]),
            counts={k: int(v) for k, v in obj.get("counts", {}).items()},
            settings=dict(obj.get("settings", {})),
        )


def snapshot_path(directory: Path, day: date) -> Path:
    return directory / f"{day:%Y%m%d}{SNAPSHOT_SUFFIX}"


def snapshot_days(directory: Path) -> list[date]:
    """Days with a snapshot file, oldest first."""
    if not directory.is_dir():
        return []
    days = []
    for entry in directory.iterdir():
        match = _NAME.match(entry.name)
        if match:
            with contextlib.suppress(ValueError):
                days.append(datetime.strptime(match.group(1), "%Y%m%d").date())
    return sorted(days)


def read_snapshot(directory: Path, day: date) -> Universe:
    """The snapshot of ``day``; SnapshotError when missing or unreadable."""
    path = snapshot_path(directory, day)
    try:
        return Universe.from_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise SnapshotError(path, "no snapshot") from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SnapshotError(path, f"unreadable snapshot ({exc})") from exc


def newest_before(directory: Path, day: date) -> Universe | None:
    """The newest readable snapshot of a day before ``day`` (None when there is none)."""
    for earlier in reversed([d for d in snapshot_days(directory) if d < day]):
        try:
            return read_snapshot(directory, earlier)
        except SnapshotError as exc:
            log.warning("skipping universe snapshot: %s", exc)
    return None


def write_snapshot(directory: Path, universe: Universe) -> Path:
    """Write ``universe`` atomically; returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = snapshot_path(directory, universe.day)
    try:
        replace_file(path, universe.to_json())
    except OSError as exc:
        raise SnapshotError(path, f"cannot write snapshot ({exc.strerror})") from exc
    return path


def remove_expired(directory: Path, today: date, keep_days: int) -> list[Path]:
    """Remove snapshots of days more than ``keep_days`` before ``today``; returns them."""
    removed = []
    for day in snapshot_days(directory):
        if (today - day).days > keep_days:
            path = snapshot_path(directory, day)
            try:
                path.unlink()
            except OSError as exc:
                log.warning("cannot remove old universe snapshot %s: %s", path, exc.strerror)
                continue
            removed.append(path)
    return removed
