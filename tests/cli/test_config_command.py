"""``observer config`` as a user runs it: exit codes, messages, redaction."""

from __future__ import annotations

import subprocess
from pathlib import Path

from observer.config.paths import K8S_PATHS
from tests.service_process import OBSERVER, base_env


def run_config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OBSERVER, "config", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_missing_variable_in_kubernetes_exits_2_naming_it(home: Path) -> None:
    env = base_env(home, 8000, OBSERVER_DEPLOYMENT="kubernetes", OBSERVER_SOURCE="sim")
    del env["OBSERVER_HOME"]
    for alias, value in K8S_PATHS.items():
        if alias not in ("OBSERVER_SNAPSHOT_DIR", "KIS_TOKEN_CACHE_DIR"):
            env[alias] = str(home / Path(value).relative_to("/"))
    result = run_config(env, "--check")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("config error: OBSERVER_SNAPSHOT_DIR: required in Kubernetes")
    assert lines[1].startswith("config error: KIS_TOKEN_CACHE_DIR: required in Kubernetes")


def test_service_refuses_to_start_in_kubernetes_without_paths(home: Path) -> None:
    env = base_env(home, 8000, KUBERNETES_SERVICE_HOST="10.43.0.1")
    result = subprocess.run([*OBSERVER, "run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "OBSERVER_DATA_DIR: required in Kubernetes" in result.stderr
    assert not (home / "data").exists()  # nothing fell back to a default path


def test_local_defaults_and_secrets_redacted(home: Path) -> None:
    env = base_env(
        home,
        8000,
        KIS_APP_KEY="fake-app-key-0001",
        KIS_APP_SECRET="fake-app-secret-0001",
        DB_PASSWORD="fake-db-password",
    )
    result = run_config(env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for secret in ("fake-app-key-0001", "fake-app-secret-0001", "fake-db-password"):
        assert secret not in out
    assert "<set, redacted>" in out
    data_line = next(line for line in out.splitlines() if line.startswith("OBSERVER_DATA_DIR "))
    assert str(home / "data") in data_line and data_line.rstrip().endswith("derived")
    source_line = next(line for line in out.splitlines() if line.startswith("OBSERVER_SOURCE "))
    assert " kis " in source_line


def test_unwritable_path_fails_the_check(home: Path) -> None:
    blocker = home / "blocker"
    blocker.write_text("a file where a directory should be")
    env = base_env(home, 8000, OBSERVER_LOG_DIR=str(blocker / "logs"))
    result = run_config(env, "--check")
    assert result.returncode == 2
    assert "OBSERVER_LOG_DIR" in result.stderr and "cannot be created" in result.stderr
