"""The service's HTTP API (aiohttp).

``/health`` answers while the process is alive and its event loop responsive (a heartbeat task
measures loop lag); ``/ready`` runs the readiness checks the service registered; ``/metrics``
is the Prometheus exposition; ``/status`` merges every component's status; ``/history`` is the
per-minute history of ``observer.api.history`` (empty until one is attached); ``/`` is the
dashboard page shipped in ``api/static``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from observer import __version__
from observer.api.history import INTERVAL_SECONDS
from observer.clock import Clock, kst_iso
from observer.metrics import Metrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], str | None]  # returns None when fine, else what is wrong
StatusSource = Callable[[], dict[str, Any]]
HistorySource = Callable[[], dict[str, Any]]
HEARTBEAT_SECONDS = 0.5
MAX_LOOP_LAG_SECONDS = 5.0
STATIC_DIR = Path(str(resources.files("observer.api") / "static"))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, default=str), status=status, content_type="application/json"
    )


class ApiServer:
    """Serves the HTTP endpoints on ``host:port`` with checks and status sources plugged in."""

    def __init__(self, clock: Clock, metrics: Metrics, host: str, port: int) -> None:
        self._clock = clock
        self._metrics = metrics
        self._host = host
        self._port = port
        self._checks: list[tuple[str, ReadinessCheck]] = []
        self._sources: list[StatusSource] = []
        self._history: HistorySource | None = None
        self._started_mono = time.monotonic()
        self._beat = time.monotonic()
        self._runner: web.AppRunner | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.bound_port = 0

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        self._checks.append((name, check))

    def add_status(self, source: StatusSource) -> None:
        self._sources.append(source)

    def set_history(self, source: HistorySource) -> None:
        self._history = source

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/status", self._status)
        app.router.add_get("/history", self._history_handler)
        app.router.add_get("/", self._index)
        if STATIC_DIR.is_dir():
            app.router.add_static("/static/", STATIC_DIR)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port
        self._heartbeat = asyncio.create_task(self._beat_loop(), name="api-heartbeat")
        log.info("HTTP API listening on %s:%d", self._host, self.bound_port)

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _beat_loop(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def failing_checks(self) -> list[dict[str, str]]:
        failing = []
        for name, check in self._checks:
            try:
                problem = check()
            except Exception as exc:  # a broken check is itself a failure, reported as such
                problem = f"check raised {type(exc).__name__}: {exc}"
            if problem:
                failing.append({"check": name, "detail": problem})
        return failing

    def status(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        warnings: list[str] = []
        for source in self._sources:
            part = source()
            warnings.extend(part.pop("warnings", ()))
            merged.update(part)
        merged["warnings"] = warnings
        failing = self.failing_checks()
        service = merged.setdefault("service", {})
        service.update(
            {
                "version": __version__,
                "uptime_seconds": round(time.monotonic() - self._started_mono, 3),
                "ready": not failing,
                "ready_failures": [f"{f['check']}: {f['detail']}" for f in failing],
                "clock": {
                    "now": kst_iso(self._clock.now_ns()),
                    "speed": self._clock.speed,
                    "shifted": self._clock.shifted,
                },
            }
        )
        return merged

    async def _health(self, _request: web.Request) -> web.Response:
        lag = time.monotonic() - self._beat
        body = {
            "status": "ok",
            "timestamp": kst_iso(self._clock.now_ns()),
            "uptime_seconds": round(time.monotonic() - self._started_mono, 3),
            "version": __version__,
        }
        if lag > MAX_LOOP_LAG_SECONDS:
            body["status"] = "stalled"
            return _json(body, status=503)
        return _json(body)

    async def _ready(self, _request: web.Request) -> web.Response:
        failing = self.failing_checks()
        if failing:
            return _json({"status": "not ready", "failing": failing}, status=503)
        return _json({"status": "ready", "checks": [name for name, _ in self._checks]})

    async def _metrics_handler(self, _request: web.Request) -> web.Response:
        body = self._metrics.render()
        response = web.Response(body=body)
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    async def _status(self, _request: web.Request) -> web.Response:
        return _json(self.status())

    async def _history_handler(self, _request: web.Request) -> web.Response:
        if self._history is None:
            return _json(
                {
                    "interval_seconds": INTERVAL_SECONDS,
                    "minutes": 0,
                    "t": [],
                    "series": {},
                    "units": {},
                }
            )
        return _json(self._history())

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        index = STATIC_DIR / "index.html"
        if index.is_file():
            return web.FileResponse(index)
        return web.Response(text="Observer is running. See /status, /metrics, /health.\n")
