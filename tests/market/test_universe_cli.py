"""``observer universe build|show`` as a user runs them (real subprocesses, embedded simulator)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson


def observer(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OBSERVER_", "KIS_", "KUBERNETES_"))
    }
    environ.update(
        OBSERVER_HOME=str(home),
        OBSERVER_SIM_ISSUES="300",
        OBSERVER_CLOCK_START="2026-01-05T08:10:00",
        **(env or {}),
    )
    return subprocess.run(
        [sys.executable, "-m", "observer", "universe", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_build_then_show(home: Path) -> None:
    built = observer(home, "build")
    assert built.returncode == 0, built.stderr
    assert "universe 2026-01-05:" in built.stdout and "(source sim)" in built.stdout
    for step in ("master", "tradable", "types", "price"):
        assert f"after {step}" in built.stdout
    snapshot = home / "universe" / "20260105_universe.json"
    stored = orjson.loads(snapshot.read_bytes())
    assert stored["counts"]["master"] == 300 and stored["source"] == "sim"

    again = observer(home, "build")
    assert again.returncode == 0 and "already exists" in again.stdout

    shown = observer(home, "show", "--symbols")
    assert shown.returncode == 0, shown.stderr
    first = stored["symbols"][0]
    assert f"{first['code']}  {first['market']}" in shown.stdout
    assert f"{stored['size']} symbols" in shown.stdout


def test_show_without_snapshot_fails_clearly(home: Path) -> None:
    shown = observer(home, "show")
    assert shown.returncode == 1
    assert "no universe snapshot" in shown.stderr


def test_kis_source_without_credentials_is_a_config_error(home: Path) -> None:
    result = observer(home, "build", env={"OBSERVER_SOURCE": "kis"})
    assert result.returncode == 2
    assert "KIS_APP_KEY" in result.stderr
