"""Quarantine: input that could not become a record is kept, not dropped.

Each rejected input is one JSONL line ``{"ts","reason","tr_id","raw"}`` in
``<data>/quarantine/quarantine_YYYYMMDD.jsonl`` (KST day of the clock), appended and fsync'd
(writers that arrive together share one fsync), and counted in ``quarantined{reason}``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Final

import orjson

from observer.archive.exceptions import ArchiveWriteError
from observer.archive.segment import Segment
from observer.clock import Clock, kst_iso
from observer.metrics import Metrics

log = logging.getLogger(__name__)
RAW_MAX_CHARS: Final = 1_000_000
UNENCODABLE: Final = "unencodable"  # parsed, but cannot become an archive line (25-digit price)
# The metric label of a reason: one of a fixed set, so the number of series stays bounded
# whatever the input (the reason itself, with its detail, is in the quarantine line).
REASON_LABELS: Final = (
    "missing_symbol", "bad_price", "bad_volume", "bad_timestamp", "unreadable_line",
    UNENCODABLE, "encrypted", "unknown_tr_id", "empty_symbol", "bad_json",
)  # fmt: skip
REASON_PREFIXES: Final = (
    (UNENCODABLE, UNENCODABLE),
    ("unparseable", "unparseable"),
    ("not a data frame", "not_a_data_frame"),
    ("bad encryption flag", "bad_encryption_flag"),
    ("unknown tr_id", "unknown_tr_id"),
    ("bad record count", "bad_record_count"),
    ("record has", "bad_field_count"),
    ("empty symbol", "empty_symbol"),
    ("bad json", "bad_json"),
    ("control message", "bad_control_message"),
    ("bad ", "bad_field"),
)

_PREFIX_LABELS: Final = frozenset(label for _prefix, label in REASON_PREFIXES)


def reason_label(reason: str) -> str:
    """The metric label of a quarantine reason (a fixed set; ``other`` for anything else)."""
    if reason in REASON_LABELS or reason in _PREFIX_LABELS:
        return reason
    if " fields do not divide into " in reason:
        return "bad_field_count"
    for prefix, label in REASON_PREFIXES:
        if reason.startswith(prefix):
            return label
    return "other"


def quarantine_name(day: str) -> str:
    """``quarantine_YYYYMMDD.jsonl`` for a KST day label."""
    return f"quarantine_{day}.jsonl"


class QuarantineWriter:
    """Appends rejected input to the day's quarantine file, fsync'd before :meth:`write` returns."""

    def __init__(self, quarantine_dir: Path, clock: Clock, metrics: Metrics) -> None:
        self.quarantine_dir = Path(quarantine_dir)
        self._clock = clock
        self._metrics = metrics
        self._pending: list[tuple[str, bytes]] = []  # (day, line); one entry per waiting writer
        self._lock = asyncio.Lock()
        self._file: Segment | None = None
        self.written = 0

    async def write(self, reason: str, raw: str | bytes, tr_id: str | None = None) -> None:
        """Quarantine one input; returns once its line is fsync'd (raises ArchiveWriteError)."""
        now_ns = self._clock.now_ns()
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = orjson.dumps(
            {"ts": kst_iso(now_ns), "reason": reason, "tr_id": tr_id, "raw": text[:RAW_MAX_CHARS]},
            option=orjson.OPT_APPEND_NEWLINE,
        )
        self._metrics.quarantined.labels(reason_label(reason)).inc()
        self._pending.append((self._clock.now().strftime("%Y%m%d"), line))
        async with self._lock:
            if not self._pending:
                return  # an earlier holder of the lock wrote this line with its own
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._append, batch)
            except ArchiveWriteError:
                self._pending[:0] = batch  # retried by the next writer; this one reports it
                raise

    def _append(self, batch: list[tuple[str, bytes]]) -> None:
        """Blocking: append the lines to their day's file and fsync (whole lines or nothing)."""
        by_day: dict[str, list[bytes]] = {}
        for day, line in batch:
            by_day.setdefault(day, []).append(line)
        for day, lines in by_day.items():
            if self._file is None or self._file.name != quarantine_name(day):
                if self._file is not None:
                    self._file.close()
                try:
                    self.quarantine_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ArchiveWriteError(str(self.quarantine_dir), exc.errno, str(exc)) from exc
                self._file = Segment(self.quarantine_dir, "quarantine", 0, quarantine_name(day))
            self._file.append(b"".join(lines))
        self.written += len(batch)

    async def close(self) -> None:
        """Write anything still pending and close the file; idempotent."""
        async with self._lock:
            if self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self._append, batch)
                except ArchiveWriteError as exc:
                    log.error("quarantine: %d line(s) could not be written: %s", len(batch), exc)
            if self._file is not None:
                self._file.close()
                self._file = None
