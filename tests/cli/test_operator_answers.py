"""Small answers an operator relies on: status finds the configured port, the secret filter
keeps ordinary words, the calendar refuses years it knows nothing about."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from observer.api.server import ApiServer
from observer.clock import Clock
from observer.config.redact import Redactor
from observer.metrics import Metrics
from tests.service_process import base_env


async def run_observer(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "observer", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_uses_the_configured_host_and_port(home: Path) -> None:
    server = ApiServer(Clock(), Metrics(), "127.0.0.1", 0)
    server.add_status(lambda: {"streams": {"scalp": {"stored": 4242}}})
    await server.start()
    try:
        env = base_env(home, server.bound_port, OBSERVER_HTTP_HOST="127.0.0.1")
        code, out, err = await run_observer(env, "status", "--json")
    finally:
        await server.stop()
    assert code == 0, err
    assert '"stored": 4242' in out


def test_secret_filter_masks_values_not_words() -> None:
    redact = Redactor(["fake-app-secret-0001"])
    line = "KIS_APP_KEY/KIS_APP_SECRET: required when OBSERVER_SOURCE=kis"
    assert redact(line) == line
    assert redact("app_secret: required") == "app_secret: required"
    assert redact("the secret fake-app-secret-0001 leaked") == "the secret *** leaked"
    assert redact('{"appsecret": "abcdef"}') == '{"appsecret": "***"}'
    assert redact("appkey=abcdef&x=1") == "appkey=***&x=1"
    assert redact("token: abc123def") == "token: ***"
    assert redact("password: longlonglonglongvalue") == "password: ***"


async def test_calendar_refuses_years_outside_the_holiday_data(home: Path) -> None:
    env = base_env(home, 0)
    for args in (("--date", "1999-01-01"), ("--year", "2150")):
        code, out, err = await run_observer(env, "calendar", *args)
        assert code == 2, out
        assert "outside the years the KRX holiday data covers" in err
        assert len(err.strip().splitlines()) == 1
    code, out, err = await run_observer(env, "calendar", "--date", "2026-01-01")
    assert code == 0 and "closed" in out
