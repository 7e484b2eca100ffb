"""``observer gaps``: the day's gaps with their repair outcome, and what is still missing.

Read from the archive (the source of truth): every ``gap`` record of the day with the outcome
of the newest ``gap_repair`` record naming it, and per symbol the continuity of its trades.
For a symbol's trades (received and backfilled, each cumulative volume once) the volume still
unaccounted for is the cumulative-volume change from the first to the last trade minus the
volumes archived, and the trades still unaccounted for are the change of the sell+buy trade
count between the first and last trade that carry it, plus one, minus the trades archived.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from observer.archive.reader import ArchiveReader, Position
from observer.pipeline.process import TRADE_TR_IDS


@dataclass(slots=True)
class GapLine:
    """One gap as listed."""

    symbol: str
    start: str
    end: str
    reason: str
    missed_volume: int | None
    outcome: str | None  # None: a kind the repair does not track
    trades_recovered: int | None
    detail: str | None


@dataclass(slots=True)
class Continuity:
    """One symbol's trades of the day: archived, and still unaccounted for."""

    symbol: str
    trades: int = 0
    backfilled: int = 0
    volume: int = 0
    unaccounted_volume: int = 0
    unaccounted_trades: int | None = None


@dataclass(slots=True)
class GapReport:
    """The gaps of one day and each symbol's continuity."""

    day: date
    gaps: list[GapLine] = field(default_factory=list)
    symbols: list[Continuity] = field(default_factory=list)


def _records(assets: Path, stream: str, day: date) -> Iterable[dict[str, Any]]:
    reader = ArchiveReader(assets)
    files = reader.day_files(stream, day, day)
    if not files:
        return []
    first, last = files[0].name.removesuffix(".zst"), files[-1].name.removesuffix(".zst")
    return reader.iter_records(stream, Position(first, 0), until_file=last)


def build_report(assets: Path, day: date, symbol: str | None = None) -> GapReport:
    """The report of ``day`` from the archive under ``assets`` (one symbol when given)."""
    report = GapReport(day)
    gaps: list[dict[str, Any]] = []
    repairs: dict[str, dict[str, Any]] = {}
    for rec in _records(assets, "system", day):
        data = rec.get("data") or {}
        if symbol is not None and rec.get("symbol") != symbol:
            continue
        if data.get("event") == "gap" and data.get("scope") == "symbol":
            gaps.append(rec)
        elif data.get("event") == "gap_repair":
            for gap_id in data.get("gap_ids") or [data.get("gap_id")]:
                repairs[str(gap_id)] = data
    for rec in gaps:
        data = rec["data"]
        repair = repairs.get(str(data.get("gap_id")), {})
        report.gaps.append(
            GapLine(
                str(rec.get("symbol") or ""),
                str(data.get("start")),
                str(data.get("end")),
                str(data.get("reason")),
                data.get("missed_volume"),
                repair.get("outcome") or data.get("repair"),
                repair.get("trades_recovered"),
                repair.get("reason"),
            )
        )
    report.symbols = continuity(_records(assets, "scalp", day), day, symbol)
    return report


def continuity(
    records: Iterable[dict[str, Any]], day: date, symbol: str | None = None
) -> list[Continuity]:
    """Per symbol: trades and volume archived and still unaccounted for (see the module doc)."""
    wanted = f"{day:%Y%m%d}"
    trades: dict[str, dict[int, dict[str, Any]]] = {}
    backfilled: dict[str, int] = {}
    for rec in records:
        data = rec.get("data") or {}
        if rec.get("tr_id") not in TRADE_TR_IDS or data.get("business_date") != wanted:
            continue
        code = str(rec.get("symbol"))
        acc = data.get("acc_volume")
        if (symbol is not None and code != symbol) or not isinstance(acc, int):
            continue
        if acc not in trades.setdefault(code, {}):
            trades[code][acc] = data
            backfilled[code] = backfilled.get(code, 0) + (rec.get("source") == "backfill")
    out = []
    for code in sorted(trades):
        by_acc = trades[code]
        accs = sorted(by_acc)
        first = by_acc[accs[0]]
        volume = sum(int(d.get("trade_volume") or 0) for d in by_acc.values())
        expected = accs[-1] - accs[0] + int(first.get("trade_volume") or 0)
        line = Continuity(code, len(accs), backfilled.get(code, 0), volume, expected - volume)
        counted = [by_acc[a] for a in accs if _count(by_acc[a]) is not None]
        if counted:
            span = _count(counted[-1]) - _count(counted[0]) + 1  # type: ignore[operator]
            inside = sum(1 for a in accs if _acc_of(counted[0]) <= a <= _acc_of(counted[-1]))
            line.unaccounted_trades = span - inside
        out.append(line)
    return out


def _count(data: dict[str, Any]) -> int | None:
    sell, buy = data.get("sell_count"), data.get("buy_count")
    return sell + buy if isinstance(sell, int) and isinstance(buy, int) else None


def _acc_of(data: dict[str, Any]) -> int:
    return int(data["acc_volume"])
