"""The loader's trade path (compiled fast path or general path) is visible to the operator."""

from __future__ import annotations

import re
from pathlib import Path

from observer.store import tickcopy
from tests.service_process import ServiceProcess, get

IDLE_START = "2026-01-10T10:00:00+09:00"  # a Saturday: the service is idle and ready at once


def test_status_metrics_and_startup_log_name_the_path(home: Path) -> None:
    expected = "compiled" if tickcopy.available() else "general"
    with ServiceProcess(home, OBSERVER_CLOCK_START=IDLE_START) as svc:
        svc.start()
        _code, status = get(svc.url + "/status")
        _code, metrics = get(svc.url + "/metrics")
        log = svc.output()
    assert status["service"]["loader_path"] == expected
    gauge = re.search(r"^observer_loader_fast_path (\S+)$", metrics, re.M)
    assert gauge is not None and float(gauge.group(1)) == (1.0 if expected == "compiled" else 0.0)
    assert f"loader path {expected}" in log


def test_history_endpoint_of_a_running_service(home: Path) -> None:
    with ServiceProcess(home, OBSERVER_CLOCK_START=IDLE_START, OBSERVER_CLOCK_SPEED="60") as svc:
        svc.start()
        svc.wait_for(lambda: len(get(svc.url + "/history")[1]["t"]) >= 2, 30, "two points")
        code, history = get(svc.url + "/history")
    assert code == 200 and history["interval_seconds"] == 60
    steps = {b - a for a, b in zip(history["t"], history["t"][1:], strict=False)}
    assert steps and all(step > 0 and step % 60 == 0 for step in steps)  # on clock minutes
    assert any(v and v > 0 for v in history["series"]["disk_free_bytes"])
    assert set(history["series"]) == set(history["units"])
