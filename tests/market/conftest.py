"""Fixtures of the market runtime tests: the simulator over loopback and a KIS account on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from observer.clock import KST, Clock
from observer.config.redact import Redactor
from observer.config.settings import Settings
from observer.kis.account import KisAccount
from observer.metrics import Metrics

BEFORE_OPEN = datetime(2026, 1, 5, 8, 0, tzinfo=KST)  # a Monday
FAKE_KEY = "fake-app-key"
FAKE_SECRET = "fake-app-secret"


class SimRig:
    """A running SimServer, settings pointing at it, and accounts on it."""

    def __init__(self, settings: Settings, clock: Clock, metrics: Metrics, sim: Any) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.sim = sim
        self.http: aiohttp.ClientSession | None = None

    def account(self, key: str = FAKE_KEY, secret: str = FAKE_SECRET) -> KisAccount:
        assert self.http is not None
        redactor = Redactor(self.settings.secret_values())
        return KisAccount(self.settings, key, secret, self.clock, self.metrics, redactor, self.http)


@pytest.fixture
async def sim_rig(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """Start a simulator (settings overrides as keywords, clock start/speed) and yield its rig."""
    async with AsyncExitStack() as stack:

        async def start(
            *, start: datetime = BEFORE_OPEN, speed: float = 1.0, **overrides: Any
        ) -> SimRig:
            from observer.sim.server import SimServer

            base = make_settings(**{"OBSERVER_SIM_ISSUES": 300, **overrides})
            clock = Clock(start, speed)
            sim = SimServer(base, clock)
            await sim.start("127.0.0.1", 0)
            stack.push_async_callback(sim.stop)
            settings = base.model_copy(
                update={
                    "kis_base_url": sim.base_url,
                    "kis_ws_url": sim.ws_url,
                    "kis_master_url": sim.master_url,
                }
            )
            rig = SimRig(settings, clock, Metrics(), sim)
            rig.http = await stack.enter_async_context(aiohttp.ClientSession())
            return rig

        yield start
