"""The running service: builds every component from the settings, starts them in order and
stops them in reverse, so that on SIGTERM input stops first and the archive is flushed last.

Order of start: paths and marker -> archive (recovery) -> HTTP API (so /health answers during a
slow start) -> source (embedded simulator when configured) -> market runtime -> loader ->
maintenance. Stop runs the other way round; the archive closes after every producer stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from observer import __version__
from observer.api.history import MetricHistory
from observer.api.server import ApiServer
from observer.archive.downtime import DOWN_REASON, downtime_gaps
from observer.archive.lock import DataDirLock
from observer.archive.quarantine import RAW_MAX_CHARS, UNENCODABLE, QuarantineWriter
from observer.archive.reader import ArchiveReader
from observer.archive.writer import ArchiveWriter
from observer.clock import Clock, kst_iso
from observer.config import ConfigError
from observer.config.paths import prepare_paths
from observer.config.redact import Redactor
from observer.config.settings import Settings
from observer.durable import replace_file
from observer.exceptions import ObserverError
from observer.kis.account import KisAccount
from observer.market.calendar import MarketCalendar
from observer.market.outlet import RecordOutlet
from observer.market.replay import ReplaySource
from observer.market.resume import streaming_cut_short, tag_downtime
from observer.market.runtime import MarketRuntime
from observer.market.slots import parse_symbol_list
from observer.market.streamer import ScalpStreamer
from observer.metrics import Metrics
from observer.ops.maintenance import Maintenance
from observer.pipeline.process import Pipeline
from observer.pipeline.record import Record, system_record
from observer.sim.server import SimServer
from observer.store import tickcopy
from observer.store.loader import ArchiveLoader

log = logging.getLogger(__name__)
MARKER_NAME = ".observer-persistence-marker"
SIM_BANNER = "SIMULATED MARKET - no KIS credentials configured"
SIM_APP_KEY = "SIMULATED-APP-KEY"  # the simulator accepts these fake credentials
SIM_APP_SECRET = "SIMULATED-APP-SECRET"  # noqa: S105

Stopper = Callable[[], Awaitable[None]]


def write_persistence_marker(data_dir: Path, clock: Clock) -> dict[str, Any]:
    """Record this start in ``<data>/.observer-persistence-marker`` (first start kept)."""
    path = data_dir / MARKER_NAME
    marker: dict[str, Any] = {}
    if path.is_file():
        with contextlib.suppress(ValueError):
            marker = orjson.loads(path.read_bytes())
    now = kst_iso(clock.now_ns())
    marker = {
        "first_start": marker.get("first_start", now),
        "last_start": now,
        "starts": int(marker.get("starts", 0)) + 1,
    }
    replace_file(path, orjson.dumps(marker), temp=path.with_suffix(".tmp"))
    return marker


class Service:
    """Observer as one asyncio process: source -> pipeline -> archive -> loader, plus the API."""

    def __init__(self, settings: Settings, clock: Clock, metrics: Metrics, redactor: Redactor):
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.redactor = redactor
        self.started_at = kst_iso(clock.now_ns())
        self.writer = ArchiveWriter(
            settings.assets_dir,
            clock,
            metrics,
            fsync_ms=settings.fsync_ms,
            batch_max=settings.fsync_batch,
            queue_max=settings.queue_max,
        )
        self.quarantine = QuarantineWriter(settings.quarantine_dir, clock, metrics)
        self.api = ApiServer(clock, metrics, settings.http_host, settings.service_port)
        self.history = MetricHistory(clock, metrics.registry)
        # The loader's trade path: the compiled extension, or the general path (no compiler).
        self.loader_path = "compiled" if tickcopy.available() else "general"
        metrics.loader_fast_path.set(1 if self.loader_path == "compiled" else 0)
        self._stoppers: list[tuple[str, Stopper]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._warnings: list[str] = []
        self.runtime: MarketRuntime | None = None
        self.maintenance: Maintenance
        self.calendar: MarketCalendar  # built once at start: the downtime scan and the source
        self.lock = DataDirLock(settings.data_dir)
        self._quarantining: set[asyncio.Task[None]] = set()
        self._started = False
        self._downtime_records: list[Record] = []  # service_down gaps and outcomes of this start

    async def start(self) -> None:
        """Start every component; ConfigError or ArchiveError for an environment problem."""
        prepare_paths(self.settings)
        data_dir = self.settings.data_dir
        try:
            self.lock.acquire()  # one writer per archive: ArchiveLocked names the holder
            self._stoppers.append(("lock", self._release_lock))
            marker = write_persistence_marker(data_dir, self.clock)
        except OSError as exc:
            raise ConfigError([f"OBSERVER_DATA_DIR: {data_dir} is not writable: {exc}"]) from exc
        self.calendar = MarketCalendar(self.settings)
        down = await self._downtime()
        self.writer.on_unencodable = self._quarantine_unencodable
        report = await self.writer.start()
        self._stoppers.append(("archive", self.writer.close))
        self._stoppers.append(("quarantine", self.quarantine.close))
        self.api.add_check("archive", self._archive_check)
        self.api.add_status(self._status)
        self.api.set_history(self.history.as_dict)
        try:
            await self.api.start()
        except OSError as exc:  # the port is taken, or the host is not an address of ours
            s = self.settings
            where = f"{s.http_host}:{s.service_port}"
            problem = f"OBSERVER_HTTP_HOST/SERVICE_PORT: cannot listen on {where}: {exc.strerror}"
            raise ConfigError([problem]) from exc
        self._stoppers.append(("api", self.api.stop))
        if down:
            settled = self._tag_downtime(down)
            await self.writer.submit_many([*down, *settled])
            self._downtime_records = [*down, *settled]
            self.metrics.gaps.labels(DOWN_REASON).inc(len(down))
            log.warning(
                "downtime since the last archived records: %d service_down gap(s)", len(down)
            )
        await self.writer.submit(
            system_record(
                "startup",
                self.clock.now_ns(),
                self.settings.source,
                version=__version__,
                starts=marker["starts"],
                recovery=report.as_dict(),
            )
        )
        self._started = True  # from here on a stop is a shutdown worth recording
        await self._start_components()
        self._spawn(self.history.run(), "history")
        log.info(
            "observer %s started (source %s, loader path %s)",
            __version__,
            self.settings.source,
            self.loader_path,
        )
        if self.loader_path == "general" and self.settings.loader_enabled:
            log.warning(
                "the loader's compiled fast path is not built (no C compiler at install): "
                "trades load on the general path, at about half the speed"
            )

    async def _downtime(self) -> list[Record]:
        """The service_down gaps of this start, read before this run writes anything (the
        last records are the previous run's); per symbol for a day whose streaming it cut."""
        s = self.settings
        cut_short = streaming_cut_short(self.calendar, parse_symbol_list(s.scalp_sessions))
        return await asyncio.to_thread(
            downtime_gaps, s.assets_dir, self.clock.now_ns(), s.source, cut_short
        )

    def _tag_downtime(self, down: list[Record]) -> list[Record]:
        """Scalp gaps get an id and a pending repair (earlier days: unrepairable at once)."""
        if not self.settings.gap_repair or self.settings.source == "replay":
            return []
        return tag_downtime(down, self.clock.now().strftime("%Y%m%d"), self.metrics)

    async def _start_components(self) -> None:
        """Maintenance (disk guard first), source, market runtime, then the loader."""
        self.maintenance = Maintenance(self.settings, self.clock, self.metrics, self.writer)
        await self.maintenance.start()
        self.writer.on_write_error = self.maintenance.check_disk_soon
        self._stoppers.append(("maintenance", self.maintenance.stop))
        self.api.add_status(self._maintenance_status)
        if self.settings.source == "replay":
            self._start_replay()
        else:
            await self._start_market()
        if self.settings.loader_enabled:
            loader = ArchiveLoader(
                self.settings, self.clock, self.metrics, ArchiveReader(self.settings.assets_dir)
            )
            self._spawn(loader.run_forever(), "loader")  # cancelled first by stop()
            self.api.add_status(loader.status)
        else:
            self.api.add_status(lambda: {"loader": {"enabled": False}})

    def _start_replay(self) -> None:
        s = self.settings
        assert s.replay_path is not None  # noqa: S101 - load_settings requires it for replay
        pipeline = Pipeline.from_settings(s, self.calendar, self.metrics)
        pipeline.source = "replay"
        outlet = RecordOutlet(self.writer, self.quarantine, self.clock)
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)  # unused: replay hands batches
        streamer = ScalpStreamer(
            "replay", queue, self.clock, outlet, pipeline, source_label="replay", registered=tuple
        )
        replay = ReplaySource(s.replay_path, self.clock, streamer)
        self._spawn(replay.run(), "replay")
        self.api.add_status(replay.status)

    async def _start_market(self) -> None:
        settings = self.settings
        if settings.source == "sim":
            settings = await self._start_simulator()
        http = aiohttp.ClientSession()
        self._stoppers.append(("http", http.close))
        accounts = [
            KisAccount(settings, key, secret, self.clock, self.metrics, self.redactor, http)
            for key, secret in settings.app_credentials()
        ]
        if not accounts:
            raise ConfigError(["KIS_APP_KEY/KIS_APP_SECRET: required when OBSERVER_SOURCE=kis"])
        runtime = MarketRuntime(
            settings,
            self.clock,
            self.metrics,
            self.writer,
            self.quarantine,
            accounts,
            self.calendar,
        )
        self.runtime = runtime
        runtime.adopt_downtime(self._downtime_records)
        await runtime.start()
        self._stoppers.append(("market", runtime.stop))
        self.api.add_status(runtime.status)
        self.api.add_check("source", self._source_check)

    async def _start_simulator(self) -> Settings:
        """Start the built-in simulator on a free loopback port; point the KIS client at it."""
        sim = SimServer(self.settings, self.clock)
        await sim.start("127.0.0.1", 0)
        self._stoppers.append(("simulator", sim.stop))
        log.warning("%s (simulator at %s)", SIM_BANNER, sim.base_url)
        self._warnings.append(SIM_BANNER)
        # Never the real credentials against the simulator: its tokens would be cached under
        # the real key. One fake key per configured key keeps the number of sessions.
        keys = max(1, len(self.settings.app_credentials()))
        extra = ",".join(f"{SIM_APP_KEY}-{i}:{SIM_APP_SECRET}" for i in range(2, keys + 1))
        update: dict[str, Any] = {
            "kis_base_url": sim.base_url,
            "kis_ws_url": sim.ws_url,
            "kis_master_url": sim.master_url,
            "kis_app_key": SecretStr(SIM_APP_KEY),
            "kis_app_secret": SecretStr(SIM_APP_SECRET),
            "kis_extra_app_keys": SecretStr(extra) if extra else None,
        }
        return self.settings.model_copy(update=update)

    def _source_check(self) -> str | None:
        if self.runtime is None:
            return None
        for account in self.runtime.accounts:
            if account.fatal:
                return f"KIS refused the credentials of key {account.key_id[:12]}: {account.fatal}"
        ok, reason = self.runtime.ready()
        return None if ok else reason

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed: %r", task.get_name(), task.exception())
            self._warnings.append(f"{task.get_name()} stopped: {task.exception()!r}")

    def _maintenance_status(self) -> dict[str, Any]:
        status = self.maintenance.status()
        status["warnings"] = self.maintenance.warnings()
        return status

    def _archive_check(self) -> str | None:
        if not self.writer.accepting:
            return "archive is not accepting input"
        refusals = self.writer.refusals
        if refusals.refusing and refusals.since_ns is not None:
            return f"archive writes failing since {kst_iso(refusals.since_ns)} (records refused)"
        return self.writer.probe_writable()

    def _status(self) -> dict[str, Any]:
        s = self.settings
        status: dict[str, Any] = {
            "service": {
                "started_at": self.started_at,
                "deployment": s.deployment,
                "source": s.source,
                "loader_path": self.loader_path,
            },
            "config": {
                "data_dir": str(s.data_dir),
                "log_dir": str(s.log_dir),
                "snapshot_dir": str(s.snapshot_dir),
                "kis_env": s.kis_env,
                "swing_interval_seconds": s.swing_interval_seconds,
                "scalp_max_slots": s.scalp_max_slots,
                "fsync_ms": s.fsync_ms,
                "standalone": s.standalone,
                "database": s.db_dsn_redacted,
            },
            "warnings": list(self._warnings),
        }
        status.update(self.writer.stats())
        return status

    async def stop(self) -> None:
        """Stop producers first, then flush and close the archive; never raises."""
        for task in self._tasks:
            task.cancel()
        # Failures of the tasks themselves were already logged by _on_task_done.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for name, stop in reversed(self._stoppers):
            if name == "quarantine":  # every producer has stopped: the last record is ours
                await self._record_shutdown()
                await asyncio.gather(*self._quarantining, return_exceptions=True)
            try:
                await stop()
            except Exception:
                log.exception("stopping %s failed", name)
        self._stoppers.clear()

    def _quarantine_unencodable(self, record: Record, detail: str) -> None:
        """A parsed record the archive cannot encode goes to the quarantine with its reason."""
        raw = record.raw if record.raw is not None else repr(record.data)[:RAW_MAX_CHARS]
        write = self.quarantine.write(f"{UNENCODABLE}: {detail}", raw, record.tr_id)
        task = asyncio.create_task(write, name="quarantine-unencodable")
        self._quarantining.add(task)
        task.add_done_callback(self._quarantined)

    def _quarantined(self, task: asyncio.Task[None]) -> None:
        self._quarantining.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an unencodable record could not be quarantined: %s", task.exception())

    async def _release_lock(self) -> None:
        self.lock.release()

    async def _record_shutdown(self) -> None:
        if not self._started:  # a start that failed (port in use): the archive is unchanged,
            return  # so the next start's service_down gap still begins at the real last record
        if not self.writer.accepting:
            log.warning("archive not accepting input: no shutdown record written")
            return
        try:
            await self.writer.submit(
                system_record("shutdown", self.clock.now_ns(), self.settings.source)
            )
        except ObserverError as err:
            log.error("could not record the shutdown: %s", err)
