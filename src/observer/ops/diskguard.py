"""The disk guard: watches the free space of the data volume and protects the archive.

Three states: ``ok``; ``warn`` below ``OBSERVER_DISK_WARN_FREE_MB`` (a ``disk`` system event and
a warning in /status); ``floor`` below ``OBSERVER_DISK_MIN_FREE_MB``: the archive writer is
paused ("disk full", so /ready turns false and producers feel back-pressure) before the volume
fills up and a write could fail half-way. When space returns the writer resumes by itself.
The free-space source is injectable so tests can simulate a filling disk.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from observer.archive.exceptions import ArchiveError
from observer.clock import Clock
from observer.metrics import Metrics
from observer.pipeline.record import Record, system_record

log = logging.getLogger(__name__)
SUBMIT_TIMEOUT_SECONDS = 5.0

MB = 1024 * 1024
PAUSE_REASON = "disk full"
DiskState = Literal["ok", "warn", "floor"]


@dataclass(frozen=True)
class DiskSpace:
    """Free and total bytes of one volume."""

    free: int
    total: int


FreeSpaceSource = Callable[[], DiskSpace]


class PausableWriter(Protocol):
    """The part of the archive writer the disk guard drives."""

    @property
    def accepting(self) -> bool: ...

    def pause(self, reason: str) -> None: ...

    def resume(self) -> None: ...

    async def submit(self, record: Record) -> Any: ...


def statvfs_free_space(path: Path) -> FreeSpaceSource:
    """The real source: free bytes available to this (unprivileged) process on ``path``."""

    def measure() -> DiskSpace:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        st = os.statvfs(probe)
        return DiskSpace(free=st.f_bavail * st.f_frsize, total=st.f_blocks * st.f_frsize)

    return measure


def classify(free: int, warn_bytes: int, floor_bytes: int) -> DiskState:
    """The state for ``free`` bytes given the two thresholds."""
    if free < floor_bytes:
        return "floor"
    if free < warn_bytes:
        return "warn"
    return "ok"


class DiskGuard:
    """Measures free space, updates the metrics, and pauses/resumes the archive writer."""

    def __init__(
        self,
        clock: Clock,
        metrics: Metrics | None,
        *,
        free_space: FreeSpaceSource,
        warn_free_mb: int,
        min_free_mb: int,
        writer: PausableWriter | None = None,
        source: str = "sim",
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._free_space = free_space
        self._warn = warn_free_mb * MB
        self._floor = min_free_mb * MB
        self._writer = writer
        self._source = source
        self._paused_by_us = False
        self.state: DiskState = "ok"
        self.last: DiskSpace | None = None
        self.last_error: str | None = None
        self.unsent: list[Record] = []  # events the archive did not take in time: sent next check
        self.submit_timeout = SUBMIT_TIMEOUT_SECONDS

    def status(self) -> dict[str, Any]:
        """The ``disk`` section of /status."""
        return {
            "free_bytes": self.last.free if self.last else None,
            "total_bytes": self.last.total if self.last else None,
            "used_ratio": (
                round(1 - self.last.free / self.last.total, 4)
                if self.last and self.last.total
                else None
            ),
            "state": self.state,
            "warn_free_bytes": self._warn,
            "min_free_bytes": self._floor,
            "writer_paused": self._paused_by_us,
            "error": self.last_error,
        }

    def warnings(self) -> list[str]:
        if self.state == "floor":
            return [f"disk almost full: archive paused ({self._free_text()} free)"]
        if self.state == "warn":
            return [f"disk space low: {self._free_text()} free"]
        return []

    def _free_text(self) -> str:
        return f"{self.last.free / MB:.0f} MB" if self.last else "unknown"

    async def check(self) -> DiskState:
        """Measure once; on a state change emit a ``disk`` event and pause or resume the writer."""
        try:
            space = self._free_space()
        except OSError as exc:
            self.last_error = f"cannot measure free space: {exc.strerror or exc}"
            log.error("disk guard: %s", self.last_error)
            return self.state
        self.last_error = None
        self.last = space
        if self._metrics is not None:
            self._metrics.disk_free_bytes.set(space.free)
            self._metrics.disk_total_bytes.set(space.total)
        await self._resend()
        new = classify(space.free, self._warn, self._floor)
        previous, self.state = self.state, new
        if new != previous:
            await self._transition(previous, new, space)
        elif new == "floor" and self._writer is not None and self._writer.accepting:
            self._pause()  # someone resumed it while the disk is still full
        return new

    async def _transition(self, previous: DiskState, new: DiskState, space: DiskSpace) -> None:
        if new == "floor":
            log.error(
                "disk guard: %d MB free, below the floor of %d MB: pausing the archive",
                space.free // MB,
                self._floor // MB,
            )
            await self._event("floor", space)  # written before the pause so the reason is archived
            self._pause()
            return
        if previous == "floor":
            self._resume()
        if new == "warn" and previous == "floor":
            log.warning("disk guard: archive resumed with %d MB free", space.free // MB)
            await self._event("resumed", space)
        elif new == "warn":
            log.warning(
                "disk guard: only %d MB free (warning at %d MB)", space.free // MB, self._warn // MB
            )
            await self._event("warn", space)
        else:
            log.info("disk guard: free space back to %d MB", space.free // MB)
            await self._event("recovered", space)

    def _pause(self) -> None:
        if self._writer is not None:
            self._writer.pause(PAUSE_REASON)
            self._paused_by_us = True

    def _resume(self) -> None:
        if self._writer is not None and self._paused_by_us:
            self._writer.resume()
            self._paused_by_us = False
            log.info("disk guard: archive resumed")

    async def _event(self, level: str, space: DiskSpace) -> None:
        if self._writer is None or not self._writer.accepting:
            return
        record = system_record(
            "disk",
            self._clock.now_ns(),
            self._source,
            level=level,
            free_bytes=space.free,
            total_bytes=space.total,
            warn_free_bytes=self._warn,
            min_free_bytes=self._floor,
        )
        await self._submit(record)

    async def _resend(self) -> None:
        if not self.unsent or self._writer is None or not self._writer.accepting:
            return
        waiting, self.unsent = self.unsent, []
        for record in waiting:
            await self._submit(record)

    async def _submit(self, record: Record) -> None:
        assert self._writer is not None  # noqa: S101 - callers check
        try:
            stored = await asyncio.wait_for(
                self._writer.submit(record), timeout=self.submit_timeout
            )
        except TimeoutError:  # a full queue: the event is kept and sent at the next check
            log.error("disk guard: the archive did not take the disk event in time; kept")
            self.unsent.append(record)
            return
        except ArchiveError as exc:  # closing or paused meanwhile: the event is only lost
            log.warning("disk guard: disk event not archived: %s", exc)
            return
        if isinstance(stored, asyncio.Future):
            stored.add_done_callback(_report_failure)


def _report_failure(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of an event's write so a failure is logged, never left dangling."""
    if not future.cancelled() and future.exception() is not None:
        log.error("disk guard: disk event not stored: %s", future.exception())
