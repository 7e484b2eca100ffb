"""Records the archive failed to write, kept until an ``archive_refused`` gap says so.

When a write or fsync fails (a full or read-only disk, an I/O error), the records of the failed
groups are not stored; their submitters learn it, but a reader of the archive would not. The
writer notes them here, per stream (first and last receive time, how many, the first error),
and as soon as the archive accepts a write again it appends one ``archive_refused`` gap record
per stream. Until then the archive is "refusing": ``/ready`` is false and a gauge says so.
Error lines are rate-limited: a full disk fails every commit, and one line per commit would
flood the log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from observer.pipeline.gaps import gap_record
from observer.pipeline.record import Record
from observer.throttle import LogThrottle

log = logging.getLogger(__name__)
REFUSED_REASON = "archive_refused"
LOG_INTERVAL_SECONDS = 10.0
# A stream that neither wrote successfully nor failed for this long is taken as accepting again
# (no traffic to prove it): its gap is written then.
QUIET_SECONDS = 5.0


@dataclass(slots=True)
class Refusal:
    """The refused records of one stream since its last gap record."""

    first_ns: int
    last_ns: int
    records: int
    error: str
    source: str
    failed_at: float = 0.0  # monotonic time of the last refused write
    accepted: bool = False  # a write of this stream succeeded since


class RefusalLedger:
    """Per stream, what was refused and not yet recorded as a gap."""

    def __init__(self) -> None:
        self.open: dict[str, Refusal] = {}
        self.since_ns: int | None = None  # clock time of the first refusal still unrecorded
        self._pending: dict[int, tuple[str, Refusal]] = {}  # id(gap record) -> what it reports
        self._errors = LogThrottle(log, LOG_INTERVAL_SECONDS)
        self.quiet_seconds = QUIET_SECONDS

    @property
    def refusing(self) -> bool:
        """True while refused records wait for their gap record to be written."""
        return bool(self.open) or bool(self._pending)

    @property
    def waiting(self) -> bool:
        """True when refused records have no gap record in flight yet."""
        return bool(self.open)

    def is_gap(self, record: Record) -> bool:
        """True for a gap record this ledger handed out (never itself counted as refused)."""
        return id(record) in self._pending

    def note(self, record: Record, error: str, now_ns: int) -> None:
        """One record was not written."""
        if self.since_ns is None:
            self.since_ns = now_ns
        _merge(self.open, record.stream, Refusal(
            record.recv_ns, record.recv_ns, 1, error, record.source, time.monotonic()))  # fmt: skip

    def accepted(self, stream: str) -> None:
        """A write of ``stream`` succeeded: its refusals can be recorded now."""
        refusal = self.open.get(stream)
        if refusal is not None:
            refusal.accepted = True

    def log_failure(self, records: int, error: object) -> None:
        """An ERROR line at most every LOG_INTERVAL_SECONDS; the rest are counted in it."""
        self._errors.error("archive: %d record(s) not written: %s", records, error)

    def gap_records(self, now_ns: int) -> list[Record]:
        """One gap record per stream for the refused records not yet in a gap record."""
        gaps: list[Record] = []
        quiet = time.monotonic() - self.quiet_seconds
        for stream, refusal in sorted(self.open.items()):
            if not refusal.accepted and refusal.failed_at > quiet:
                continue  # still refusing: the gap covers the whole outage once it ends
            gap = gap_record(
                refusal.source, now_ns, refusal.first_ns, refusal.last_ns, REFUSED_REASON,
                scope="stream", stream=stream, records=refusal.records, error=refusal.error,
            )  # fmt: skip
            self._pending[id(gap)] = (stream, refusal)
            gaps.append(gap)
        for gap in gaps:
            del self.open[self._pending[id(gap)][0]]
        return gaps

    def settled(self, gap: Record, written: bool) -> int:
        """A handed-out gap record was written (returns its record count) or not (retried)."""
        entry = self._pending.pop(id(gap), None)
        if entry is None:
            return 0
        stream, refusal = entry
        if not written:
            _merge(self.open, stream, refusal)
            return 0
        if not self.refusing:
            self.since_ns = None
            log.warning("archive: writes succeed again; refused records recorded as gaps")
        return refusal.records


def _merge(into: dict[str, Refusal], stream: str, more: Refusal) -> None:
    known = into.get(stream)
    if known is None:
        into[stream] = more
        return
    known.first_ns = min(known.first_ns, more.first_ns)
    known.last_ns = max(known.last_ns, more.last_ns)
    known.records += more.records
    if more.failed_at > known.failed_at:  # a new failure: not accepting after all
        known.failed_at, known.accepted = more.failed_at, False
