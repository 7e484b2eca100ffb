"""The simulator as one aiohttp application on loopback: REST, ``/tryitout`` and master zips."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from observer.clock import Clock
from observer.config.settings import Settings
from observer.sim.auth import SimAuth
from observer.sim.exceptions import SimulatorError
from observer.sim.market import SimMarket
from observer.sim.rest import SimRest
from observer.sim.ws_server import SimWsHub

log = logging.getLogger(__name__)


class SimServer:
    """A protocol-faithful KIS endpoint over the synthetic market (tests, demos, default source).

    ``app_keys`` (app key -> secret), when given, makes unknown keys answer EGW00103 and wrong
    secrets EGW00105; without it every key is accepted.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        market: SimMarket | None = None,
        app_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.market = market or SimMarket.from_settings(settings, clock)
        self.auth = SimAuth(
            clock,
            rate_limit=settings.sim_rate_limit,
            gateway_error_rate=settings.sim_gateway_error_rate,
            app_keys=app_keys,
            seed=settings.sim_seed,
        )
        self.rest = SimRest(self.market, self.auth, slow_ms=settings.sim_slow_ms)
        self.ws = SimWsHub(
            self.market,
            self.auth,
            clock,
            pingpong_seconds=settings.sim_pingpong_seconds,
            extra_field=settings.sim_extra_field,
            garbage_rate=settings.sim_garbage_rate,
            drop_seconds=settings.sim_drop_ws_seconds,
            seed=settings.sim_seed,
        )
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 = any free port) and start streaming."""
        app = web.Application()
        app.add_routes([*self.rest.routes(), web.get("/tryitout", self.ws.handle)])
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise SimulatorError(f"simulator cannot listen on {host}:{port}: {exc}") from exc
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        self.ws.start()
        log.info("simulator listening on %s (%d issues)", self.base_url, len(self.market.issues))

    async def stop(self) -> None:
        """Close every WebSocket, stop streaming and release the port."""
        await self.ws.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    @property
    def master_url(self) -> str:
        return f"{self.base_url}/master"

    # -- hooks for tests ------------------------------------------------------------------
    def expire_tokens(self, app_key: str | None = None) -> int:
        """Expire every issued token (of one app key) now; returns how many."""
        return self.auth.expire_tokens(app_key)

    async def drop_connections(self) -> int:
        """Close every WebSocket connection from the server side; returns how many."""
        return await self.ws.drop_connections()

    def counters(self) -> dict[str, Any]:
        """What the server has seen: tokens, requests, limits, WebSocket traffic."""
        return {
            "tokens_issued": dict(self.auth.tokens_issued),
            "tokens_refused": dict(self.auth.tokens_refused),
            "approvals_issued": dict(self.auth.approvals_issued),
            "rate_limited": dict(self.auth.rate_limited),
            "gateway_errors": self.auth.gateway_errors,
            "requests": dict(self.rest.requests),
            "ws": self.ws.status(),
        }
