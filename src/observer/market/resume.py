"""The service's own downtime, repaired: scalp ``service_down`` gaps become repair windows.

At start-up the archive scan (``observer.archive.downtime``) gives one ``service_down`` gap per
symbol of the newest scalp hour, with the cumulative volume of the symbol's last archived trade
(``acc_volume_from``) and its ``business_date``. :func:`tag_downtime` gives each such gap a
``gap_id`` and ``repair: "pending"`` before it is archived. A gap of an earlier day ends at once
``unrepairable``: the time-and-sales API serves only today's trades.

Today's gaps are blind windows like a disconnect's. The market runtime seeds the trade
detector's baseline with the last archived trade, so the symbol's first trade after the restart
reveals the trades the downtime missed as a volume jump; the window is handed to the repairer of
the session the symbol is registered on again and settles with that jump's repair (or
``repaired`` with no trade, when nothing was missed). A symbol that is not registered again
today is repaired up to the window's end when streaming stops (or at once, when no scalp session
is left today): the API covers the whole day.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date, timedelta

from observer.clock import NS_PER_S
from observer.market.calendar import MarketCalendar
from observer.market.repair import PENDING, UNREPAIRABLE, outcome_record
from observer.metrics import Metrics
from observer.pipeline.record import Record

DOWN_REASON = "service_down"  # the reason observer.archive.downtime writes
PREVIOUS_DAY = "a previous day: the time-and-sales API serves only today"
# A previous day's scalp stream whose newest record is this much before the end of that day's
# last scalp session was cut short by the stop (a run that streamed to the end stops right then).
CUT_SHORT_SLACK = timedelta(seconds=60)


def is_down_window(gap: Record) -> bool:
    """A per-symbol ``service_down`` gap waiting for its repair."""
    data = gap.data
    return (
        data.get("reason") == DOWN_REASON
        and data.get("scope") == "symbol"
        and bool(gap.symbol)
        and data.get("repair") == PENDING
    )


def _day_of(gap: Record) -> str:
    day = gap.data.get("business_date")
    if isinstance(day, str) and day:
        return day
    return str(gap.data.get("start") or "")[:10].replace("-", "")


def tag_downtime(gaps: Iterable[Record], today: str, metrics: Metrics) -> list[Record]:
    """Tag the scalp ``service_down`` gaps for repair; returns the outcomes due now.

    ``today`` is the KST date as YYYYMMDD. Gaps of an earlier day are settled ``unrepairable``.
    """
    settled: list[Record] = []
    for gap in gaps:
        data = gap.data
        if data.get("reason") != DOWN_REASON or data.get("scope") != "symbol" or not gap.symbol:
            continue
        gap_id = f"{gap.symbol}-{gap.recv_ns}-down"
        data["gap_id"], data["repair"] = gap_id, PENDING
        if _day_of(gap) != today:
            metrics.gap_repairs.labels(UNREPAIRABLE).inc()
            settled.append(
                outcome_record(
                    gap.recv_ns, gap.source, gap.symbol, [gap_id], UNREPAIRABLE, 0, 0, PREVIOUS_DAY
                )
            )
    return settled


def streaming_cut_short(
    calendar: MarketCalendar, scalp_sessions: Collection[str]
) -> Callable[[str, int], bool]:
    """Whether a scalp stream whose newest record of ``day`` is at ``last_ns`` stopped early."""

    def cut_short(day: str, last_ns: int) -> bool:
        try:
            when = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
        except ValueError:
            return False
        ends = [s.end for s in calendar.sessions_on(when) if s.name in scalp_sessions]
        if not ends:
            return False
        end_ns = int((max(ends) - CUT_SHORT_SLACK).timestamp()) * NS_PER_S
        return last_ns < end_ns

    return cut_short
