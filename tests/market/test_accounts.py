"""One KIS account per app key for the configured source."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from observer.clock import Clock
from observer.config import ConfigError
from observer.config.redact import Redactor
from observer.market.runtime import SIM_APP_KEY, accounts_for
from observer.metrics import Metrics


async def test_one_account_per_configured_key(make_settings: Any) -> None:
    settings = make_settings(
        OBSERVER_SOURCE="kis",
        KIS_APP_KEY="fake-app-key-1",
        KIS_APP_SECRET="fake-app-secret-1",
        KIS_EXTRA_APP_KEYS="fake-app-key-2:fake-app-secret-2",
    )
    async with aiohttp.ClientSession() as http:
        accounts = accounts_for(settings, Clock(), Metrics(), Redactor([]), http)
    assert len(accounts) == 2
    assert "fake-app-key-1" not in repr(accounts[0].rest)


async def test_the_simulator_gets_a_fake_key_only(make_settings: Any) -> None:
    settings = make_settings(
        OBSERVER_SOURCE="sim", KIS_APP_KEY="fake-app-key-1", KIS_APP_SECRET="fake-app-secret-1"
    )
    redactor = Redactor([])
    async with aiohttp.ClientSession() as http:
        [_account] = accounts_for(settings, Clock(), Metrics(), redactor, http)
    # the account registers the key it uses with the redactor: the fake one, not the real one
    assert SIM_APP_KEY not in redactor(f"key {SIM_APP_KEY}")
    assert "fake-app-key-1" in redactor("key fake-app-key-1")


async def test_kis_without_credentials_is_a_config_error(make_settings: Any) -> None:
    settings = make_settings(OBSERVER_SOURCE="kis")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ConfigError):
            accounts_for(settings, Clock(), Metrics(), Redactor([]), http)
