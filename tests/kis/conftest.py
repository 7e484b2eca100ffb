"""Fixtures of the KIS client tests: a loopback fake KIS and accounts pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from observer.clock import KST, ManualClock
from observer.config.redact import Redactor
from observer.kis.account import KisAccount
from observer.metrics import Metrics
from tests.kis.fake_kis import APP_KEY, APP_SECRET, FakeKis


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=KST))


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeKis]:
    server = FakeKis(now=clock.monotonic)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def make_account(
    make_settings: Any, fake: FakeKis, clock: ManualClock, http: aiohttp.ClientSession
) -> Callable[..., KisAccount]:
    """Build a KisAccount against the fake server (overrides go to Settings)."""

    def build(
        *, app_key: str = APP_KEY, app_secret: str = APP_SECRET, metrics: Metrics | None = None,
        redactor: Redactor | None = None, **overrides: Any,
    ) -> KisAccount:  # fmt: skip
        settings = make_settings(
            KIS_BASE_URL=fake.base_url,
            KIS_MASTER_URL=f"{fake.base_url}/master",
            KIS_RATE_LIMIT_PER_SECOND=1000,
            **overrides,
        )
        return KisAccount(
            settings, app_key, app_secret, clock, metrics or Metrics(), redactor or Redactor(), http
        )

    return build
