"""``observer run`` and ``observer config --check`` answer configuration and environment
problems with one line per problem and exit code 2, never a traceback (real subprocesses)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.immutable import immutable
from tests.service_process import OBSERVER, base_env, free_port

# (extra environment, text the one error line must contain)
BAD_CONFIGS: dict[str, tuple[dict[str, str], str]] = {
    "schedule": ({"OBSERVER_SESSION_SCHEDULE": "regular=9:00-25:99"}, "OBSERVER_SESSION_SCHEDULE"),
    "kis_without_credentials": ({"OBSERVER_SOURCE": "kis"}, "KIS_APP_KEY/KIS_APP_SECRET"),
    "key_without_secret": ({"KIS_APP_KEY": "fake-app-key"}, "KIS_APP_SECRET: not set"),
    "extra_app_keys": (
        {"KIS_EXTRA_APP_KEYS": "fake-key-only,fake-key-2:fake-secret-2"},
        "KIS_EXTRA_APP_KEYS: entry 1 of 2",
    ),
    "rate_above_ceiling": (
        {"KIS_ENV": "paper", "KIS_RATE_LIMIT_PER_SECOND": "5"},
        "KIS_RATE_LIMIT_PER_SECOND: 5 is above",
    ),
    "disk_order": (
        {"OBSERVER_DISK_WARN_FREE_MB": "100", "OBSERVER_DISK_MIN_FREE_MB": "500"},
        "OBSERVER_DISK_WARN_FREE_MB",
    ),
    "replay_missing": (
        {"OBSERVER_SOURCE": "replay", "OBSERVER_REPLAY_PATH": "/nonexistent/frames.txt"},
        "OBSERVER_REPLAY_PATH",
    ),
    "port": ({"SERVICE_PORT": "70000"}, "SERVICE_PORT"),
    "clock_speed_inf": ({"OBSERVER_CLOCK_SPEED": "inf"}, "OBSERVER_CLOCK_SPEED"),
}


def observer(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OBSERVER, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_config_check_exits_2_on_each_problem(home: Path, case: str) -> None:
    extra, needle = BAD_CONFIGS[case]
    assert_one_line(observer(base_env(home, 0, **extra), "config", "--check"), needle)


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_run_refuses_each_problem_in_one_line(home: Path, case: str) -> None:
    extra, needle = BAD_CONFIGS[case]
    assert_one_line(observer(base_env(home, 0, **extra), "run"), needle)


def test_run_refuses_a_port_in_use(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = observer(base_env(home, port), "run")
    assert_one_line(result, f"cannot listen on 127.0.0.1:{port}")
    # a start that failed leaves the archive as it was (no shutdown record that would shorten
    # the next start's service_down gap)
    assert list((home / "data" / "assets").glob("*.jsonl")) == []


def test_run_refuses_a_read_only_home(home: Path) -> None:
    (home / "data").mkdir()
    with immutable(home):
        result = observer(base_env(home, free_port()), "run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("config error: ") for line in lines)
    assert any(str(home) in line for line in lines)


def test_run_refuses_an_unwritable_log_dir(home: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with immutable(logs):
        result = observer(base_env(home, free_port(), OBSERVER_LOG_DIR=str(logs)), "run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "OBSERVER_LOG_DIR" in result.stderr


def test_run_refuses_a_missing_home_that_cannot_be_created(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with immutable(parent):
        result = observer(base_env(parent / "home", free_port()), "run")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "cannot be created" in result.stderr


def test_config_shows_the_effective_rate_limit(home: Path) -> None:
    result = observer(base_env(home, 0, KIS_ENV="paper"), "config")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("KIS_RATE_LIMIT_PER_SECOND"))
    assert line.split()[1] == "2" and "derived" in line
