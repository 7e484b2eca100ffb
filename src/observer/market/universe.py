"""The daily universe: which symbols track A sweeps and track B may stream.

Built before the open (``OBSERVER_UNIVERSE_BUILD_TIME``) and at start-up when today's snapshot
is missing, in counted steps:

1. ``master``   every issue of the KOSPI and KOSDAQ master files (duplicates dropped);
2. ``tradable`` without halted, liquidation and administrative issues;
3. ``types``    without ETFs, ETNs, SPACs and preferred shares unless their
   ``OBSERVER_UNIVERSE_INCLUDE_*`` setting is on;
4. ``price``    previous close (``prev_close``, else ``price`` of a multi-symbol quote; the master
   file's base price when a quote is missing) at least ``OBSERVER_MIN_PRICE``.

The result is written as a snapshot (see :mod:`observer.market.snapshots`). When the build fails
the newest earlier snapshot stands in (``fallback``); the fallback, a size change of more than
30 %, and every added or removed symbol become ``universe`` system events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import date
from typing import Any

from observer.clock import Clock, kst_iso
from observer.config.settings import Settings
from observer.kis.master import MasterIssue
from observer.market import snapshots
from observer.market.exceptions import SnapshotError, UniverseError
from observer.market.snapshots import Universe, UniverseSymbol
from observer.market.sources import QUOTE_CALLS_IN_FLIGHT, QuoteSource, gather_quotes
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
COUNT_CHANGE_WARNING = 0.30
MAX_FAILED_CALL_RATIO = 0.5


@dataclass(slots=True)
class UniverseOutcome:
    """Today's universe and the system events its build produced."""

    universe: Universe
    events: list[Record] = field(default_factory=list)
    built: bool = False
    failure: dict[str, Any] | None = None  # why today's build failed (a fallback stands in)


def _type_allowed(issue: MasterIssue, settings: Settings) -> bool:
    if issue.is_etf:
        return settings.universe_include_etf
    if issue.is_etn:
        return settings.universe_include_etn
    if issue.is_spac:
        return settings.universe_include_spac
    if issue.is_preferred:
        return settings.universe_include_preferred
    return True


def _quote_price(data: dict[str, Any]) -> int:
    for key in ("prev_close", "price"):
        try:
            value = int(data.get(key) or 0)
        except (TypeError, ValueError):
            continue
        if value > 0:
            return value
    return 0


STEP_WHAT = {
    "master": "the master files list no issue",
    "tradable": "every issue is halted, in liquidation or administrative",
    "types": "every tradable issue is an ETF, ETN, SPAC or preferred share left out by settings",
    "price": "every remaining issue is priced below OBSERVER_MIN_PRICE",
}


def _emptied(steps: dict[str, int], min_price: int) -> UniverseError:
    """The error for a build that left no symbol, naming the step that emptied it."""
    step = next(name for name, count in steps.items() if count == 0)
    trail = " -> ".join(f"{name} {count}" for name, count in steps.items())
    what = STEP_WHAT[step].replace("OBSERVER_MIN_PRICE", f"OBSERVER_MIN_PRICE ({min_price})")
    return UniverseError(
        f"no symbol left: step '{step}' emptied the universe ({what}); counts: {trail}",
        step=step,
        counts=steps,
    )


def filter_settings(settings: Settings) -> dict[str, Any]:
    """The settings a universe depends on, stored in its snapshot."""
    return {
        "min_price": settings.min_price,
        "include_etf": settings.universe_include_etf,
        "include_etn": settings.universe_include_etn,
        "include_spac": settings.universe_include_spac,
        "include_preferred": settings.universe_include_preferred,
    }


@dataclass(eq=False, repr=False)
class UniverseBuilder:
    """Builds, stores and falls back on the daily universe."""

    settings: Settings
    clock: Clock
    source: QuoteSource
    _: KW_ONLY
    source_label: str
    concurrency: int = QUOTE_CALLS_IN_FLIGHT

    async def build(self, day: date) -> Universe:
        """Build the universe of ``day`` from the master files and quotes (nothing is written)."""
        s = self.settings
        try:
            issues: Sequence[MasterIssue] = await self.source.masters()
        except Exception as exc:  # the reason is reported; the caller falls back
            raise UniverseError(f"master files unavailable: {type(exc).__name__}: {exc}") from exc
        unique = list({issue.code: issue for issue in issues}.values())
        tradable = [i for i in unique if not (i.halted or i.liquidation or i.administrative)]
        typed = [i for i in tradable if _type_allowed(i, s)]
        harvest = await gather_quotes(
            self.source, [i.code for i in typed], self.clock, concurrency=self.concurrency
        )
        if harvest.calls and harvest.errors / harvest.calls > MAX_FAILED_CALL_RATIO:
            raise UniverseError(f"{harvest.errors} of {harvest.calls} quote calls failed")
        prices = {q.symbol: _quote_price(q.data) for _ns, q in harvest.quotes}
        symbols: list[UniverseSymbol] = []
        from_master = 0
        for issue in typed:
            price = prices.get(issue.code, 0)
            if price <= 0:
                price = int(issue.base_price or 0)
                from_master += 1
            if price >= s.min_price:
                fund = issue.is_etf or issue.is_etn
                symbols.append(UniverseSymbol(issue.code, issue.market, issue.name, price, fund))
        steps = {
            "master": len(unique),
            "tradable": len(tradable),
            "types": len(typed),
            "price": len(symbols),
        }
        if not symbols:
            raise _emptied(steps, s.min_price)
        counts = {
            **steps,
            "priced_from_master": from_master,
            "quote_calls": harvest.calls,
            "quote_errors": harvest.errors,
        }
        return Universe(
            day=day,
            symbols=symbols,
            source=self.source_label,
            generated_at=kst_iso(self.clock.now_ns()),
            counts=counts,
            settings=filter_settings(s),
        )

    def existing(self, day: date) -> Universe | None:
        """The stored universe of ``day``, when there is a readable one."""
        try:
            return snapshots.read_snapshot(self.settings.snapshot_dir, day)
        except SnapshotError:
            return None

    async def ensure(self, day: date, *, rebuild: bool = False) -> UniverseOutcome:
        """Today's universe: the stored one (built with the same filter settings), or a fresh
        build, or the newest earlier snapshot.

        Raises UniverseError only when the build fails and no earlier snapshot exists.
        """
        if not rebuild:
            stored = self.existing(day)
            if stored is not None and stored.settings == filter_settings(self.settings):
                return UniverseOutcome(stored)
            if stored is not None:
                log.info("the universe settings changed since %s was built: rebuilding", day)
        directory = self.settings.snapshot_dir
        previous = snapshots.newest_before(directory, day)
        now_ns = self.clock.now_ns()
        try:
            universe = await self.build(day)
            snapshots.write_snapshot(directory, universe)
        except (UniverseError, SnapshotError) as exc:
            step = exc.step if isinstance(exc, UniverseError) else None
            counts = exc.counts if isinstance(exc, UniverseError) else {}
            if previous is None:
                raise UniverseError(
                    f"universe build failed and no snapshot to use: {exc}", step=step, counts=counts
                ) from exc
            log.error("universe build failed, using the snapshot of %s: %s", previous.day, exc)
            previous.fallback = True
            previous.fallback_from = previous.day.isoformat()
            event = system_record(
                "universe",
                now_ns,
                self.source_label,
                action="fallback",
                reason=str(exc),
                snapshot_date=previous.day.isoformat(),
                size=len(previous.symbols),
                failed_step=step,
                counts=counts,
            )
            failure = {"reason": str(exc), "failed_step": step, "counts": counts}
            return UniverseOutcome(previous, [event], failure=failure)
        removed = snapshots.remove_expired(directory, day, self.settings.retention_snapshot_days)
        if removed:
            log.info("removed %d expired universe snapshots", len(removed))
        log.info("universe of %s built: %d symbols %s", day, len(universe.symbols), universe.counts)
        events = [self._built_event(universe, now_ns)]
        if previous is not None:
            events.extend(self._change_events(previous, universe, now_ns))
        return UniverseOutcome(universe, events, built=True)

    def _built_event(self, universe: Universe, now_ns: int) -> Record:
        return system_record(
            "universe",
            now_ns,
            self.source_label,
            action="built",
            date=universe.day.isoformat(),
            size=len(universe.symbols),
            counts=universe.counts,
            settings=universe.settings,
        )

    def _change_events(self, previous: Universe, current: Universe, now_ns: int) -> list[Record]:
        label = self.source_label
        events: list[Record] = []
        before, after = len(previous.symbols), len(current.symbols)
        if before and abs(after - before) / before > COUNT_CHANGE_WARNING:
            log.warning("universe size changed from %d to %d", before, after)
            events.append(
                system_record(
                    "universe",
                    now_ns,
                    label,
                    action="count_warning",
                    previous_size=before,
                    size=after,
                    previous_date=previous.day.isoformat(),
                )
            )
        old, new = set(previous.codes), set(current.codes)
        for code in sorted(new - old):
            events.append(system_record("universe", now_ns, label, code, action="added"))
        for code in sorted(old - new):
            events.append(system_record("universe", now_ns, label, code, action="removed"))
        return events
