"""What ``/status`` tells about today beyond counts: the gap list and the slots' details.

:class:`GapList` keeps today's gap records, one entry per window (a disconnect makes one gap
record per registered symbol; they share start, end and reason and show as one line with the
symbol count and the first few codes). Where gap repair runs, a gap record carries a ``gap_id``
and ``repair: "pending"``, and a later ``gap_repair`` record names the ``gap_ids`` it settles
with an ``outcome`` (repaired / partial / unrepairable) and the ``trades_recovered``; a report
without ids is matched by the window's start, end and reason. The entry shows the outcome and
the trades recovered, else None (the page shows a dash).

:class:`TradeRates` counts the trades stored per symbol and turns them into trades per minute
over the last minute or two of the clock. :func:`slot_details` gives each held slot its name,
market, why it holds the slot (always-on or its trigger score), since when and its trade rate.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from observer.clock import NS_PER_S, Clock, kst_iso
from observer.market.repair import PARTIAL, PENDING, REPAIRED
from observer.market.slots import SlotManager
from observer.pipeline.record import Record

FIRST_SYMBOLS = 5  # codes listed per gap window
MAX_WINDOWS = 500  # gap windows kept per day (the oldest go first)
RATE_WINDOW_SECONDS = 60.0
# Where a gap record or a gap_repair report carries the outcome and the trades recovered
# (``repair: "pending"`` on the gap record; ``outcome``, ``trades_recovered`` on the report).
OUTCOME_FIELDS = ("outcome", "repair")
RECOVERED_FIELDS = ("trades_recovered", "recovered")


class _Window:
    __slots__ = ("first", "ids", "missed_volume", "outcomes", "recovered", "scope", "symbols")

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.symbols: set[str] = set()
        self.first: list[str] = []
        self.ids: list[str] = []
        self.outcomes: dict[str, str] = {}  # gap id (else symbol) -> outcome
        self.recovered: int | None = None
        self.missed_volume: int | None = None

    def outcome(self) -> str | None:
        """One word for the window: the common outcome, else pending while any is, else partial."""
        kinds = set(self.outcomes.values())
        if len(kinds) <= 1:
            return kinds.pop() if kinds else None
        if PENDING in kinds:
            return PENDING
        return PARTIAL if kinds & {REPAIRED, PARTIAL} else sorted(kinds)[0]


def _outcome_of(data: Mapping[str, Any]) -> str | None:
    return next((str(data[f]) for f in OUTCOME_FIELDS if isinstance(data.get(f), str)), None)


def _recovered_of(data: Mapping[str, Any]) -> int | None:
    return next((data[f] for f in RECOVERED_FIELDS if isinstance(data.get(f), int)), None)


class GapList:
    """Today's gap windows, newest first, with their repair outcome when one is known."""

    def __init__(self, max_windows: int = MAX_WINDOWS) -> None:
        self.max_windows = max_windows
        self._day: date | None = None
        self._windows: OrderedDict[tuple[str, str, str], _Window] = OrderedDict()
        self._ids: dict[str, tuple[str, str, str]] = {}  # gap id -> its window

    def add(self, records: Iterable[Record], day: date) -> None:
        """Take the gap records and repair reports among ``records``, seen on ``day``."""
        if day != self._day:
            self._day = day
            self._windows.clear()
            self._ids.clear()
        for record in records:
            event = record.data.get("event")
            if record.stream != "system" or not isinstance(event, str):
                continue
            if event == "gap":
                self._gap(record)
            elif event.startswith("gap_"):
                self._report(record)

    def _gap(self, record: Record) -> None:
        data = record.data
        key = _key(data)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(str(data.get("scope") or ""))
            while len(self._windows) > self.max_windows:
                _old, dropped = self._windows.popitem(last=False)
                for old_id in dropped.ids:
                    self._ids.pop(old_id, None)
        if record.symbol and record.symbol not in window.symbols:
            window.symbols.add(record.symbol)
            if len(window.first) < FIRST_SYMBOLS:
                window.first.append(record.symbol)
        missed = data.get("missed_volume")
        if isinstance(missed, int):
            window.missed_volume = (window.missed_volume or 0) + missed
        gap_id = data.get("gap_id")
        if isinstance(gap_id, str):
            self._ids[gap_id] = key
            window.ids.append(gap_id)
        outcome = _outcome_of(data)
        if outcome is not None:
            self._settle(
                window, gap_id if isinstance(gap_id, str) else record.symbol, outcome, data
            )

    def _report(self, record: Record) -> None:
        """A repair report: by the gap ids it names, else by the window's start, end and reason."""
        data = record.data
        outcome = _outcome_of(data)
        if outcome is None:
            return
        ids = data.get("gap_ids") or ([data["gap_id"]] if "gap_id" in data else [])
        counted = False  # the trades recovered count once, on the first gap the report names
        for gap_id in ids:
            key = self._ids.get(str(gap_id))
            window = self._windows.get(key) if key is not None else None
            if window is not None:
                self._settle(window, str(gap_id), outcome, {} if counted else data)
                counted = True
        if not ids:
            window = self._windows.get(_key(data))
            if window is not None:
                self._settle(window, record.symbol, outcome, data)

    def _settle(self, window: _Window, tag: str, outcome: str, data: Mapping[str, Any]) -> None:
        window.outcomes[tag] = outcome
        recovered = _recovered_of(data)
        if recovered is not None:
            window.recovered = (window.recovered or 0) + recovered

    def today(self, day: date) -> list[dict[str, Any]]:
        """The ``gaps`` list of /status: today's windows, newest (latest end) first."""
        if day != self._day:
            return []
        return [
            {
                "start": start,
                "end": end,
                "reason": reason,
                "scope": w.scope,
                "symbols": len(w.symbols),
                "first": list(w.first),
                "missed_volume": w.missed_volume,
                "outcome": w.outcome(),
                "recovered": w.recovered,
            }
            for (start, end, reason), w in sorted(
                self._windows.items(), key=lambda item: (item[0][1], item[0][0]), reverse=True
            )
        ]


def _key(data: Mapping[str, Any]) -> tuple[str, str, str]:
    return str(data.get("start")), str(data.get("end")), str(data.get("reason"))


class TradeRates:
    """Trades stored per symbol, and trades per minute over the last minute or two."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._mark_ns = clock.now_ns()
        self._mark: Counter[str] = Counter()
        self._older: tuple[int, Counter[str]] | None = None

    def add(self, records: Iterable[Record]) -> None:
        self.counts.update(r.symbol for r in records if r.stream == "scalp")

    def per_minute(self) -> dict[str, float]:
        """Trades per minute of each symbol since a mark at least a minute old (or the start)."""
        now = self.clock.now_ns()
        if now - self._mark_ns >= RATE_WINDOW_SECONDS * NS_PER_S:
            self._older = (self._mark_ns, self._mark)
            self._mark_ns, self._mark = now, self.counts.copy()
        since_ns, base = self._older if self._older is not None else (self._mark_ns, self._mark)
        minutes = (now - since_ns) / NS_PER_S / 60
        if minutes <= 0:
            return {}
        return {s: round((n - base.get(s, 0)) / minutes, 1) for s, n in self.counts.items()}


def slot_details(
    slots: SlotManager,
    session: str,
    clock: Clock,
    universe: Mapping[str, tuple[str, str]],
    scores: Mapping[str, float],
    rates: Mapping[str, float],
) -> list[dict[str, Any]]:
    """One entry per slot of ``session``: code, name, market, reason, score, since, trade rate.

    ``universe`` maps code -> (name, market); ``scores`` holds the last trigger scores.
    """
    now_ns, now_mono = clock.now_ns(), clock.monotonic()
    details = []
    for code in slots.symbols(session):
        name, market = universe.get(code, (None, None))
        held = slots.held_since(code)
        pinned = code in slots.always_on
        details.append(
            {
                "code": code,
                "name": name,
                "market": market,
                "reason": "always-on" if pinned else "trigger",
                "score": None if pinned else scores.get(code),
                "since": None
                if held is None
                else kst_iso(now_ns - int((now_mono - held) * NS_PER_S)),
                "trades_per_minute": rates.get(code, 0.0),
            }
        )
    return details
