"""Maintenance: the daily tasks (retention, backup) and the disk guard, in or out of the service.

In the service, :class:`Maintenance` always runs the disk guard (every ``disk_interval`` real
seconds) and, when ``OBSERVER_STANDALONE`` is true, runs the daily tasks at
``OBSERVER_MAINTENANCE_TIME`` on the process clock. In Kubernetes the daily tasks run as
CronJobs instead (``observer maintenance run``), which call :func:`run_tasks` directly.
File-heavy work runs in a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from observer.archive.compress import compress_hour
from observer.clock import Clock, kst_iso
from observer.config.settings import Settings
from observer.metrics import Metrics
from observer.ops.backup import BackupStore
from observer.ops.db_retention import drop_partitions_before
from observer.ops.diskguard import DiskGuard, FreeSpaceSource, PausableWriter, statvfs_free_space
from observer.ops.exceptions import OpsError
from observer.ops.retention import Compressor, RetentionReport, RetentionRunner
from observer.store.exceptions import DatabaseUnavailableError, StoreError

log = logging.getLogger(__name__)

TASKS = ("retention", "backup", "disk")
DAILY_TASKS = ("retention", "backup")
DISK_INTERVAL_SECONDS = 10.0
# Drops database partitions older than the given day; returns the dropped names.
PartitionDropper = Callable[[Settings, date], Awaitable[list[str]]]


def next_run_at(now: datetime, at: time) -> datetime:
    """The next time of day ``at`` strictly after ``now`` (same time zone as ``now``)."""
    today = datetime.combine(now.date(), at, tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)


def default_compressor() -> Compressor:
    """The archive's compressor for closed hours (compress, verify, manifest line, delete)."""
    return compress_hour


def default_partition_dropper() -> PartitionDropper:
    """The store's partition retention, over one short connection."""
    return drop_partitions_before


@dataclass(eq=False, repr=False)
class MaintenanceTasks:
    """The maintenance tasks over one set of settings; each returns a JSON-able summary."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    _: KW_ONLY
    guard: DiskGuard
    compressor: Compressor | None = None
    drop_partitions: PartitionDropper | None = None

    async def run(self, task: str) -> dict[str, Any]:
        """Run one task, count it in the metrics and return its summary (raises on failure)."""
        runner = {"retention": self.retention, "backup": self.backup, "disk": self.disk}.get(task)
        if runner is None:
            raise OpsError(f"unknown maintenance task {task!r} (one of {', '.join(TASKS)})")
        log.info("maintenance: %s started", task)
        try:
            result = await runner()
        except Exception:
            self.metrics.maintenance_runs.labels(task, "error").inc()
            log.exception("maintenance: %s failed", task)
            raise
        self.metrics.maintenance_runs.labels(task, "ok").inc()
        log.info("maintenance: %s finished: %s", task, result)
        return result

    async def retention(self) -> dict[str, Any]:
        runner = RetentionRunner(
            self.settings, self.clock, self.metrics, compressor=self.compressor
        )
        report = await asyncio.to_thread(runner.run)
        await self._drop_partitions(report)
        return report.as_dict()

    async def _drop_partitions(self, report: RetentionReport) -> None:
        if self.drop_partitions is None:
            report.partitions_skipped = "no partition dropper"
            return
        if not self.settings.loader_enabled:
            report.partitions_skipped = "the loader is disabled (no database)"
            return
        cutoff = self.clock.now().date() - timedelta(days=self.settings.retention_db_days)
        try:
            dropped = await self.drop_partitions(self.settings, cutoff)
        except (DatabaseUnavailableError, OSError) as exc:
            report.partitions_skipped = f"database not reachable: {exc}"
        except StoreError as exc:
            report.partitions_skipped = f"database error: {exc}"
        else:
            report.partitions = list(dropped)
            self.metrics.retention_removed.labels("db_partition").inc(len(dropped))
            return
        log.warning("maintenance: partitions not dropped: %s", report.partitions_skipped)

    async def backup(self) -> dict[str, Any]:
        if self.settings.backup_repository is None:
            # In Kubernetes the backup CronJob runs it; the service has no repository.
            return {"skipped": "no OBSERVER_BACKUP_REPOSITORY"}
        store = BackupStore(self.settings, self.clock, self.metrics)
        info = await asyncio.to_thread(store.create)
        return info.as_dict()

    async def disk(self) -> dict[str, Any]:
        await self.guard.check()
        return self.guard.status()


class Maintenance:
    """The in-process scheduler: disk guard always, daily tasks when standalone."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        writer: PausableWriter | None = None,
        *,
        free_space: FreeSpaceSource | None = None,
        compressor: Compressor | None = None,
        drop_partitions: PartitionDropper | None = None,
        disk_interval: float = DISK_INTERVAL_SECONDS,
        tasks: Sequence[str] = DAILY_TASKS,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.guard = DiskGuard(
            clock,
            metrics,
            free_space=free_space or statvfs_free_space(settings.data_dir),
            warn_free_mb=settings.disk_warn_free_mb,
            min_free_mb=settings.disk_min_free_mb,
            writer=writer,
            source=settings.source,
        )
        self.tasks = MaintenanceTasks(
            settings,
            clock,
            metrics,
            guard=self.guard,
            compressor=compressor if compressor is not None else default_compressor(),
            drop_partitions=(
                drop_partitions if drop_partitions is not None else default_partition_dropper()
            ),
        )
        self._daily = tuple(tasks)
        self._disk_interval = disk_interval
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._urgent: asyncio.Task[None] | None = None
        self.next_run: datetime | None = None
        self.last_runs: dict[str, dict[str, Any]] = {}
        self.running: str | None = None
        self.daily_runs = 0
        self.daily_ran = asyncio.Event()  # set after every daily run (tests wait on it)

    @property
    def scheduled(self) -> bool:
        return self.settings.standalone

    async def start(self) -> None:
        """Check the disk once, then start the disk loop and (standalone) the daily loop."""
        self._stopping.clear()
        await self.guard.check()
        self._loops.append(asyncio.create_task(self._disk_loop(), name="maintenance-disk"))
        if self.scheduled:
            self._loops.append(asyncio.create_task(self._daily_loop(), name="maintenance-daily"))

    def check_disk_soon(self) -> None:
        """Check the disk now, not on the timer (the archive calls this on a write error)."""
        if self._urgent is not None and not self._urgent.done():
            return  # one check at a time: a full disk fails every commit
        self._urgent = asyncio.create_task(self._urgent_check(), name="maintenance-disk-now")

    async def _urgent_check(self) -> None:
        try:
            await self.guard.check()
        except Exception:  # the guard must keep running; the failure is logged
            log.exception("disk guard: check failed")

    async def stop(self) -> None:
        self._stopping.set()
        if self._urgent is not None:
            self._loops.append(self._urgent)
            self._urgent = None
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()

    async def run(self, task: str) -> dict[str, Any]:
        """Run one task now and remember its outcome for /status."""
        started = kst_iso(self.clock.now_ns())
        self.running = task
        try:
            result = await self.tasks.run(task)
        except Exception as exc:
            self.last_runs[task] = {
                "at": started,
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
            }
            raise
        finally:
            self.running = None
        self.last_runs[task] = {"at": started, "ok": True, "result": result}
        return result

    async def run_daily(self) -> None:
        """Every daily task in order; one failing does not stop the next."""
        for task in self._daily:
            with contextlib.suppress(Exception):  # already logged and counted by run()
                await self.run(task)

    async def _daily_loop(self) -> None:
        while not self._stopping.is_set():
            self.next_run = next_run_at(self.clock.now(), self.settings.maintenance_time)
            await self.clock.sleep_until(self.next_run)
            await self.run_daily()
            self.daily_runs += 1
            self.daily_ran.set()

    async def _disk_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._disk_interval)
            if self._stopping.is_set():
                return
            try:
                await self.guard.check()
            except Exception:  # the guard must keep running; the failure is logged
                log.exception("disk guard: check failed")

    def warnings(self) -> list[str]:
        """Warnings for /status (disk state, failed maintenance runs)."""
        found = self.guard.warnings()
        for task, run in sorted(self.last_runs.items()):
            if not run.get("ok"):
                found.append(f"maintenance {task} failed at {run['at']}: {run.get('error')}")
        return found

    def status(self) -> dict[str, Any]:
        """The ``disk`` and ``maintenance`` sections of /status."""
        return {
            "disk": self.guard.status(),
            "maintenance": {
                "scheduled": self.scheduled,
                "time": self.settings.maintenance_time.isoformat(timespec="minutes"),
                "next_run": self.next_run.isoformat() if self.next_run and self.scheduled else None,
                "running": self.running,
                "daily_runs": self.daily_runs,
                "last_runs": self.last_runs,
            },
        }


async def run_tasks(
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    tasks: Sequence[str],
    *,
    free_space: FreeSpaceSource | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the given tasks once, outside the service (``observer maintenance run``)."""
    maintenance = Maintenance(settings, clock, metrics, free_space=free_space)
    results: dict[str, dict[str, Any]] = {}
    for task in tasks:
        try:
            results[task] = {"ok": True, **(await maintenance.run(task))}
        except Exception as exc:
            results[task] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return results
