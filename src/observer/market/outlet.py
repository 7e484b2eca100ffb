"""Where the market runtime's records go: the archive writer and the quarantine.

:class:`RecordOutlet` is the one exit of tracks A and B. It submits batches to the archive
writer (waiting for queue space, which is the back-pressure, but not for the fsync), sends
unusable records to the quarantine, and counts the gap records it passes for ``/status``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date
from typing import Protocol

import orjson

from observer.clock import Clock
from observer.market.today import GapList, TradeRates
from observer.pipeline.record import Record
from observer.throttle import LogThrottle

log = logging.getLogger(__name__)


class ArchiveSink(Protocol):
    """The part of ``observer.archive.ArchiveWriter`` the market runtime uses."""

    async def submit_many(self, records: list[Record]) -> asyncio.Future[int]: ...


class QuarantineSink(Protocol):
    """The part of ``observer.archive.QuarantineWriter`` the market runtime uses."""

    async def write(self, reason: str, raw: str | bytes, tr_id: str | None = None) -> None: ...


class Unusable(Protocol):
    """A record the pipeline refused (``observer.pipeline.process.Quarantined``)."""

    @property
    def record(self) -> Record: ...
    @property
    def reason(self) -> str: ...


class RecordOutlet:
    """Submits records to the archive and rejects to the quarantine; counts today's gaps."""

    def __init__(self, writer: ArchiveSink, quarantine: QuarantineSink, clock: Clock) -> None:
        self.writer = writer
        self.quarantine_sink = quarantine
        self.clock = clock
        self.gaps_today = 0
        self.failed_batches = 0
        self._gap_day: date | None = None
        self.gap_list = GapList()
        self.trade_rates = TradeRates(clock)
        self._errors = LogThrottle(log)  # a full disk fails every batch: not one line each

    async def archive(self, records: list[Record], *, gaps: int | None = None) -> None:
        """Hand ``records`` to the archive (waits for queue space, not for the fsync).

        ``gaps`` says how many of them are gap records when the caller knows (saves a scan).
        """
        if not records:
            return
        if gaps is None:
            gaps = sum(1 for r in records if r.stream == "system" and r.data.get("event") == "gap")
        if gaps:
            self._count_gaps(gaps)
        # Gaps, or a repair's report (a system batch, or the last record after the backfill)
        if gaps or records[0].stream == "system" or records[-1].stream == "system":
            self.gap_list.add(records, self.clock.now().date())
        self.trade_rates.add(records)
        future = await self.writer.submit_many(records)
        future.add_done_callback(self._acknowledged)

    def _count_gaps(self, n: int) -> None:
        today = self.clock.now().date()
        if today != self._gap_day:
            self._gap_day = today
            self.gaps_today = 0
        self.gaps_today += n

    def gaps_on(self, day: date) -> int:
        return self.gaps_today if day == self._gap_day else 0

    def _acknowledged(self, future: asyncio.Future[int]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.failed_batches += 1
            self._errors.error("archive refused a batch of market records: %s", exc)

    async def reject(self, reason: str, raw: str, tr_id: str | None) -> None:
        """Quarantine one unparsable input."""
        await self.quarantine_sink.write(reason, raw, tr_id)

    async def reject_many(self, items: Sequence[tuple[str, str, str | None]]) -> None:
        """Quarantine several inputs at once (they share one fsync)."""
        if items:
            await asyncio.gather(*(self.quarantine_sink.write(r, raw, t) for r, raw, t in items))

    async def quarantine(self, items: Sequence[Unusable]) -> None:
        """Quarantine the records the pipeline refused (their raw text, else their data)."""
        await self.reject_many([(i.reason, _raw_text(i.record), i.record.tr_id) for i in items])


def _raw_text(record: Record) -> str:
    if record.raw is not None:
        return record.raw
    return orjson.dumps(record.data, default=str).decode()
