"""Credentials KIS refuses (EGW00103/EGW00105): /ready names it, and no retry storm follows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from observer.clock import Clock
from observer.sim.server import SimServer
from tests.service_process import ServiceProcess, get

REAL_KEY = "fake-registered-app-key"
REAL_SECRET = "fake-registered-app-secret"
OPEN_DAY = "2026-01-05T09:30:00+09:00"


class SimThread:
    """A SimServer that knows one app key, on its own event loop in a thread."""

    def __init__(self, make_settings: object) -> None:
        settings = make_settings(OBSERVER_SIM_ISSUES="50")  # type: ignore[operator]
        self.loop = asyncio.new_event_loop()
        self.sim = SimServer(settings, Clock(), app_keys={REAL_KEY: REAL_SECRET})
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> SimServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(30)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def sim(make_settings: object) -> Iterator[SimServer]:
    with SimThread(make_settings) as server:
        yield server


def test_refused_secret_makes_ready_fail_with_a_clear_reason(home: Path, sim: SimServer) -> None:
    svc = ServiceProcess(
        home,
        OBSERVER_SOURCE="kis",
        KIS_APP_KEY=REAL_KEY,
        KIS_APP_SECRET="fake-wrong-secret",
        KIS_BASE_URL=sim.base_url,
        KIS_WS_URL=sim.ws_url,
        KIS_MASTER_URL=sim.master_url,
        OBSERVER_CLOCK_START=OPEN_DAY,
    )
    with svc:
        svc.start(wait_ready=False)

        def source_failure() -> str:
            code, body = get(svc.url + "/ready")
            if code != 503:
                return ""
            return next((f["detail"] for f in body["failing"] if f["check"] == "source"), "")

        svc.wait_for(lambda: "refused the credentials" in source_failure(), 60, "/ready 503")
        assert "EGW00105" in source_failure()
        issued = sim.auth.tokens_refused[REAL_KEY] + sim.auth.tokens_issued[REAL_KEY]
        assert issued <= 1  # one attempt, then it stops asking: no storm
        assert "fake-wrong-secret" not in svc.output()
        assert svc.terminate(timeout=10) == 0
