"""The service's memory for the dashboard: per-minute figures of the service clock, in memory.

At every minute of the service clock :class:`MetricHistory` reads the Prometheus registry (the
one place every component already counts in) and keeps one point: records stored per stream,
records quarantined, gaps opened and repaired, WebSocket reconnects and sweeps in that minute
(counter deltas), the mean sweep duration, the sweep coverage, loader lag and free disk (gauges).
It holds the last ``minutes`` points (default 12 hours), so the history is bounded and a page
opened at any time draws the recent hours at once. ``GET /history`` serves it column-wise::

    {"interval_seconds": 60, "minutes": 720, "t": [epoch seconds, ...],
     "series": {"stored_scalp": [...], ...}, "units": {"stored_scalp": "records/min", ...}}

A value is null where the figure does not exist for that minute (no sweep ran, no disk figure
yet). History starts empty at each start of the process; the archive keeps the real record.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from observer.clock import NS_PER_S, Clock

log = logging.getLogger(__name__)
HISTORY_MINUTES = 720  # 12 hours of the service clock
INTERVAL_SECONDS = 60
STREAMS = ("scalp", "swing", "system")

# Counters summed over their labels: series name -> sample name.
COUNTERS = {
    "quarantined": "observer_quarantined_records_total",
    "gaps_opened": "observer_gaps_total",
    "ws_reconnects": "observer_ws_reconnects_total",
    "sweeps": "observer_sweep_duration_seconds_count",
}
UNITS = {
    **{f"stored_{s}": "records/min" for s in STREAMS},
    "quarantined": "records/min",
    "gaps_opened": "gaps/min",
    "gaps_repaired": "gaps/min",
    "ws_reconnects": "reconnects/min",
    "sweeps": "sweeps/min",
    "sweep_seconds": "s",
    "sweep_coverage": "ratio",
    "loader_lag_seconds": "s",
    "loader_lag_records": "records",
    "disk_free_bytes": "bytes",
}
Totals = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def read_totals(registry: CollectorRegistry) -> Totals:
    """Every sample of the registry, keyed by (sample name, sorted labels)."""
    totals: Totals = {}
    for family in registry.collect():
        if not family.name.startswith("observer_"):
            continue
        for sample in family.samples:
            totals[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return totals


def _sum(totals: Totals, name: str, **labels: str) -> float | None:
    wanted = set(labels.items())
    values = [v for (n, lbl), v in totals.items() if n == name and wanted <= set(lbl)]
    return sum(values) if values else None


@dataclass(eq=False, repr=False)
class MetricHistory:
    """A bounded per-minute history of the service's key figures (see the module docstring)."""

    clock: Clock
    registry: CollectorRegistry
    _: KW_ONLY
    minutes: int = HISTORY_MINUTES

    def __post_init__(self) -> None:
        self.times: deque[int] = deque(maxlen=self.minutes)
        self.series: dict[str, deque[float | None]] = {
            name: deque(maxlen=self.minutes) for name in UNITS
        }
        self._last: dict[str, float] | None = None

    def _cumulative(self, totals: Totals) -> dict[str, float]:
        """The counters this history turns into per-minute deltas, as totals now."""
        now: dict[str, float] = {}
        for stream in STREAMS:
            now[f"stored_{stream}"] = (
                _sum(totals, "observer_records_stored_total", stream=stream) or 0.0
            )
        for series, sample in COUNTERS.items():
            now[series] = _sum(totals, sample) or 0.0
        now["gaps_repaired"] = _sum(totals, "observer_gap_repairs_total", outcome="repaired") or 0.0
        now["sweep_seconds_sum"] = _sum(totals, "observer_sweep_duration_seconds_sum") or 0.0
        return now

    def sample(self) -> None:
        """Take the point of the current minute (the first call only sets the baseline)."""
        totals = read_totals(self.registry)
        now = self._cumulative(totals)
        last, self._last = self._last, now
        if last is None:
            return
        point: dict[str, float | None] = {
            name: max(0.0, now[name] - last[name])
            for name in now
            if name in UNITS  # sweep_seconds_sum is only the numerator below
        }
        sweeps = point["sweeps"] or 0.0
        point["sweep_seconds"] = (
            round((now["sweep_seconds_sum"] - last["sweep_seconds_sum"]) / sweeps, 3)
            if sweeps
            else None
        )
        point["sweep_coverage"] = _sum(totals, "observer_sweep_coverage_ratio") if sweeps else None
        point["loader_lag_seconds"] = _sum(totals, "observer_loader_lag_seconds")
        point["loader_lag_records"] = _sum(totals, "observer_loader_lag_records")
        total_disk = _sum(totals, "observer_disk_total_bytes")
        point["disk_free_bytes"] = _sum(totals, "observer_disk_free_bytes") if total_disk else None
        minute_ns = self.clock.now_ns() // (INTERVAL_SECONDS * NS_PER_S)
        self.times.append(int(minute_ns * INTERVAL_SECONDS))
        for name, values in self.series.items():
            values.append(point.get(name))

    async def run(self) -> None:
        """Sample at every minute of the service clock until cancelled."""
        self.sample()
        while True:
            now = self.clock.now()
            boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
            await self.clock.sleep_until(boundary)
            await asyncio.sleep(0)
            self.sample()

    def as_dict(self) -> dict[str, Any]:
        """The ``/history`` document (column-wise, oldest first)."""
        return {
            "interval_seconds": INTERVAL_SECONDS,
            "minutes": self.minutes,
            "t": list(self.times),
            "series": {name: list(values) for name, values in self.series.items()},
            "units": dict(UNITS),
        }
