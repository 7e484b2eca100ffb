"""Fixtures for the simulator tests: a server on loopback over an accelerated clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from observer.clock import KST, Clock
from observer.sim.server import SimServer

MARKET_MORNING = datetime(2026, 11, 26, 9, 30, tzinfo=KST)  # a Thursday, a KRX market day


@pytest.fixture
async def sim(make_settings: Any) -> AsyncIterator[SimServer]:
    settings = make_settings(sim_issues=60, sim_activity=0.3)
    server = SimServer(settings, Clock(MARKET_MORNING, speed=10.0))
    await server.start()
    yield server
    await server.stop()
