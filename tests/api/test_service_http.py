"""The four endpoints against a running ``observer run``, and a clean SIGTERM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.immutable import immutable
from tests.service_process import ServiceProcess, get

# A Saturday: the market is closed, so the service is idle (and ready) from the start.
IDLE_START = "2026-01-10T10:00:00+09:00"


@pytest.fixture
def service(home: Path) -> Iterator[ServiceProcess]:
    with ServiceProcess(home, OBSERVER_CLOCK_START=IDLE_START) as svc:
        yield svc.start()


def test_health_answers_with_status_timestamp_uptime_version(service: ServiceProcess) -> None:
    status, body = get(service.url + "/health")
    assert status == 200
    assert body["status"] == "ok"
    stamp = datetime.fromisoformat(body["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 9 * 3600
    assert stamp.date().isoformat() == "2026-01-10"  # the process clock, not the wall clock
    assert body["uptime_seconds"] >= 0
    assert body["version"]


def test_ready_metrics_and_status(service: ServiceProcess) -> None:
    status, body = get(service.url + "/ready")
    assert status == 200, body
    status, text = get(service.url + "/metrics")
    assert status == 200
    for name in (
        "observer_records_stored_total",
        "observer_archive_fsync_seconds_bucket",
        "observer_archive_queue_depth",
        "observer_build_info",
        "process_resident_memory_bytes",
    ):
        assert name in text
    status, body = get(service.url + "/status")
    assert status == 200
    assert body["service"]["source"] == "sim"
    assert body["service"]["ready"] is True
    assert body["streams"]["system"]["stored"] >= 1  # the startup event
    assert "password" not in str(body["config"]).lower() or "***" in str(body["config"])


def test_ready_turns_503_when_the_archive_directory_becomes_unwritable(
    service: ServiceProcess,
) -> None:
    assets = service.home / "data" / "assets"
    with immutable(assets):
        service.wait_for(lambda: get(service.url + "/ready")[0] == 503, 10, "/ready 503")
        status, body = get(service.url + "/ready")
        assert status == 503
        assert [f["check"] for f in body["failing"]] == ["archive"]
        assert get(service.url + "/health")[0] == 200  # alive, just not ready
    service.wait_for(lambda: get(service.url + "/ready")[0] == 200, 10, "/ready 200 again")


def test_sigterm_flushes_and_exits_zero(service: ServiceProcess) -> None:
    assert service.terminate(timeout=10) == 0  # the contract: done within 10 s of SIGTERM
    lines = [
        line
        for f in sorted((service.home / "data" / "assets").glob("system_*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert '"event":"shutdown"' in lines[-1]
    assert all(line.startswith("{") and line.endswith("}") for line in lines)


def test_logs_go_to_the_daily_system_log_file(service: ServiceProcess) -> None:
    service.terminate()
    logs = list((service.home / "logs" / "system").glob("observer_2026011*.log"))
    assert logs, "no daily log file"
    assert "observer" in logs[0].read_text()
