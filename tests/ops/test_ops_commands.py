"""The operations commands as a user runs them: ``observer status``, ``maintenance run`` and
``backup create|list|verify|restore``, each a real subprocess."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from observer.api.server import ApiServer
from observer.cli.logging_setup import attach_maintenance_log
from observer.clock import KST, Clock, ManualClock
from observer.config.redact import Redactor
from observer.metrics import Metrics
from observer.ops.status_report import render_status
from tests.service_process import free_port

STATUS: dict[str, Any] = {
    "market": {"trading_day": True, "session": "regular", "next_transition": None},
    "sources": [{"name": "ws-1", "kind": "websocket", "connected": True, "reconnects": 1}],
    "slots": [{"session": "ws-1", "max": 41, "symbols": ["005930", "000660"]}],
    "streams": {"scalp": {"stored": 123456, "records_per_second": 88.5}},
    "archive": {"files": [{"name": "scalp_20260105_10.jsonl", "bytes": 2_500_000}]},
    "loader": {"enabled": False, "lag_records": {"scalp": 10}},
    "disk": {"free_bytes": 5 * 1024**3, "total_bytes": 20 * 1024**3, "state": "ok"},
    "warnings": ["loader disabled"],
}
CLOCK_START = "2026-03-20T18:30:00+09:00"


def command_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_", "DB_"))}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.update({"OBSERVER_HOME": str(home), "OBSERVER_CLOCK_START": CLOCK_START, **extra})
    return env


def observer(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observer", *args],
        env=command_env(home, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def observer_async(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "observer", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_prints_a_table_or_json() -> None:
    server = ApiServer(Clock(), Metrics(), "127.0.0.1", 0)
    server.add_status(lambda: json.loads(json.dumps(STATUS)))
    await server.start()
    url = f"http://127.0.0.1:{server.bound_port}"
    try:
        code, out, err = await observer_async("status", "--url", url)
        assert code == 0, err
        assert "Observer 0.1.0" in out and "session regular" in out
        assert "ws-1" in out and "123,456" in out and "2/41" in out and "005930, 000660" in out
        assert "scalp_20260105_10.jsonl  2.4 MB" in out and "! loader disabled" in out
        assert "5.0 GB free of 20.0 GB" in out
        code, out, err = await observer_async("status", "--url", url, "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["streams"] == STATUS["streams"] and data["service"]["ready"] is True
    finally:
        await server.stop()


def test_status_says_clearly_when_the_service_is_not_running(home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = observer(home, "status", "--url", url)
    assert done.returncode == 1
    assert f"cannot reach the service at {url}" in done.stderr
    assert "is the service running?" in done.stderr
    assert "Traceback" not in done.stderr


def test_render_status_shows_dashes_for_missing_sections() -> None:
    text = render_status({})
    assert "Observer —" in text and "Universe — symbols" in text and "Warnings —" in text


def test_render_status_lists_todays_gaps_and_the_loader_path() -> None:
    gap = {
        "start": "2026-01-05T09:58:01.250000+09:00",
        "end": "2026-01-05T09:58:04.500000+09:00",
        "reason": "disconnect",
        "symbols": 12,
        "first": ["005930", "000660"],
        "outcome": None,
        "recovered": None,
    }
    text = render_status({"gaps": [gap], "service": {"loader_path": "general"}})
    assert "09:58:01-09:58:04  disconnect  12 005930, 000660  —" in text
    assert "path general" in text


def test_maintenance_run_applies_retention_and_logs_to_the_maintenance_log(home: Path) -> None:
    snapshots = home / "universe"
    snapshots.mkdir()
    old = snapshots / "20260301_universe.json"  # 18 days before the clock: expired (14 days)
    kept = snapshots / "20260310_universe.json"
    old.write_text("{}")
    kept.write_text("{}")
    done = observer(home, "maintenance", "run", "--task", "retention", "--task", "disk", "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["retention"]["ok"] and results["retention"]["removed"] == {"snapshot": 1}
    assert results["disk"]["ok"] and results["disk"]["state"] in ("ok", "warn", "floor")
    assert not old.exists() and kept.exists()
    log = home / "logs" / "maintenance" / "maintenance_20260320.log"
    assert "maintenance: retention finished" in log.read_text()


def test_maintenance_run_fails_with_exit_code_1_when_a_task_fails(
    home: Path, tmp_path: Path
) -> None:
    (home / "data" / "assets").mkdir(parents=True)
    unusable = tmp_path / "not-a-repository"
    unusable.write_text("a file where the restic repository belongs")
    done = observer(
        home, "maintenance", "run", "--task", "backup",
        OBSERVER_BACKUP_REPOSITORY=str(unusable), OBSERVER_BACKUP_PASSWORD="test-only",
    )  # fmt: skip
    assert done.returncode == 1
    assert "backup: FAILED" in done.stdout
    done = observer(home, "maintenance", "run", "--task", "backup", "--json")
    assert done.returncode == 0, done.stderr  # no repository: the CronJob's task, skipped here
    assert orjson.loads(done.stdout)["backup"]["skipped"] == "no OBSERVER_BACKUP_REPOSITORY"


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed")
def test_backup_commands_round_trip(home: Path, tmp_path: Path) -> None:
    repo = {
        "OBSERVER_BACKUP_REPOSITORY": str(tmp_path / "repository"),
        "OBSERVER_BACKUP_PASSWORD": "test-only-password",
        "OBSERVER_BACKUP_CHECK_SUBSET": "100%",
    }
    assets = home / "data" / "assets"
    assets.mkdir(parents=True)
    body = zstandard.ZstdCompressor().compress(b'{"seq":1}\n')
    (assets / "scalp_20260320_09.jsonl.zst").write_bytes(body)
    done = observer(home, "backup", "create", **repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("snapshot ") and "1 file(s)" in done.stdout
    snapshot = done.stdout.split()[1]

    done = observer(home, "backup", "list", "--json", **repo)
    listed = orjson.loads(done.stdout)
    assert [b["snapshot"] for b in listed] == [snapshot] and listed[0]["files"] == 1

    done = observer(home, "backup", "verify", snapshot, **repo)
    assert done.returncode == 0 and "OK, repository checked, 1 file(s)" in done.stdout

    target = tmp_path / "restored"
    done = observer(home, "backup", "restore", snapshot, "--target", str(target), **repo)
    assert done.returncode == 0, done.stderr
    assert (target / "assets" / "scalp_20260320_09.jsonl.zst").read_bytes() == body

    (target / "assets" / "scalp_20260320_09.jsonl.zst").write_bytes(b"changed")
    done = observer(home, "backup", "restore", "latest", "--target", str(target), **repo)
    assert done.returncode == 1 and "differ from the backup" in done.stderr
    done = observer(home, "backup", "restore", "latest", "--target", str(target), "--force", **repo)
    assert done.returncode == 0 and "overwrote 1" in done.stdout

    done = observer(home, "backup", "verify", "ffffffff", **repo)
    assert done.returncode == 1 and "no such snapshot" in done.stderr
    assert "test-only-password" not in done.stderr + done.stdout


def test_the_service_can_send_ops_logs_to_the_maintenance_log(make_settings: Any) -> None:
    settings = make_settings()
    clock = ManualClock(datetime(2026, 3, 20, 18, 30, tzinfo=KST))
    handler = attach_maintenance_log(settings, clock, Redactor(["fake-db-password"]))
    ops_log = logging.getLogger("observer.ops.retention")
    previous = ops_log.level
    ops_log.setLevel(logging.INFO)
    try:
        ops_log.info("retention: removed %d file(s) using %s", 3, "fake-db-password")
        logging.getLogger("observer.market").warning("not a maintenance line")
    finally:
        ops_log.setLevel(previous)
        logging.getLogger("observer.ops").removeHandler(handler)
        handler.close()
    text = (settings.maintenance_log_dir / "maintenance_20260320.log").read_text()
    assert "retention: removed 3 file(s)" in text
    assert "fake-db-password" not in text and "not a maintenance line" not in text
