from __future__ import annotations

from pathlib import Path

import pytest

from observer.config import ConfigError, load_settings
from observer.config.paths import K8S_PATHS, check_paths
from observer.config.settings import REQUIRED_IN_K8S


def test_local_defaults_live_under_home(tmp_path: Path) -> None:
    loaded = load_settings({"OBSERVER_HOME": str(tmp_path)})
    s = loaded.settings
    assert s.deployment == "local"
    assert s.data_dir == tmp_path / "data"
    assert s.system_log_dir == tmp_path / "logs" / "system"
    assert s.maintenance_log_dir == tmp_path / "logs" / "maintenance"
    assert s.token_cache_dir == tmp_path / "data" / "cache"
    assert s.snapshot_dir == tmp_path / "universe"
    assert s.source == "sim"
    assert loaded.sources["OBSERVER_DATA_DIR"] == "derived"
    assert loaded.sources["OBSERVER_HOME"] == "environment"


def test_credentials_select_kis_source(tmp_path: Path) -> None:
    s = load_settings(
        {"OBSERVER_HOME": str(tmp_path), "KIS_APP_KEY": "fake-key", "KIS_APP_SECRET": "fake-sec"}
    ).settings
    assert s.source == "kis"
    assert s.kis_base_url.endswith(":9443")
    assert "fake-key" not in repr(s)
    assert "fake-sec" not in repr(s)


def test_every_secret_value_reaches_the_log_redactor(tmp_path: Path) -> None:
    env = {
        "OBSERVER_HOME": str(tmp_path),
        "DB_PASSWORD": "fake-db-pass",
        "KIS_APP_KEY": "fake-key",
        "KIS_APP_SECRET": "fake-sec",
        "KIS_HTS_ID": "fake-hts",
        "KIS_EXTRA_APP_KEYS": "fake-key2:fake-sec2",
        "OBSERVER_BACKUP_PASSWORD": "fake-backup-pass",
    }
    values = set(load_settings(env).settings.secret_values())
    assert values == {
        "fake-db-pass", "fake-key", "fake-sec", "fake-hts", "fake-key2", "fake-sec2",
        "fake-backup-pass",
    }  # fmt: skip


def test_kubernetes_requires_every_path_and_the_source() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    named = {line.split(":")[0] for line in err.value.problems}
    assert named == set(REQUIRED_IN_K8S)


def test_kubernetes_with_everything_set_is_accepted() -> None:
    env = {"OBSERVER_DEPLOYMENT": "kubernetes", "OBSERVER_SOURCE": "sim", **K8S_PATHS}
    s = load_settings(env).settings
    assert s.in_kubernetes
    assert str(s.data_dir) == K8S_PATHS["OBSERVER_DATA_DIR"]
    assert s.http_host == "0.0.0.0"


def test_unknown_and_malformed_variables_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            {
                "OBSERVER_HOME": str(tmp_path),
                "OBSERVER_FSYNC_MSS": "10",
                "OBSERVER_FSYNC_MS": "soon",
                "OBSERVER_DATA_DIR": "relative/dir",
            }
        )
    text = "\n".join(err.value.problems)
    assert "OBSERVER_FSYNC_MSS: unknown variable" in text
    assert "OBSERVER_FSYNC_MS:" in text and "'soon'" in text
    assert "OBSERVER_DATA_DIR: must be an absolute path" in text


def test_malformed_secret_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"OBSERVER_HOME": str(tmp_path), "DB_PORT": "x", "DB_PASSWORD": "pw-1234"})
    assert "pw-1234" not in str(err.value)


def test_unwritable_path_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    s = load_settings(
        {"OBSERVER_HOME": str(tmp_path), "OBSERVER_DATA_DIR": str(blocker / "data")}
    ).settings
    problems = check_paths(s)
    assert any(p.startswith("OBSERVER_DATA_DIR:") for p in problems)


def test_env_file_values_and_provenance(tmp_path: Path) -> None:
    env_file = tmp_path / "observer.env"
    env_file.write_text("OBSERVER_FSYNC_MS=20\nLOG_LEVEL=DEBUG\n")
    loaded = load_settings(
        {"OBSERVER_HOME": str(tmp_path), "LOG_LEVEL": "WARNING"}, env_file=str(env_file)
    )
    assert loaded.settings.fsync_ms == 20
    assert loaded.sources["OBSERVER_FSYNC_MS"] == "file"
    assert loaded.settings.log_level == "WARNING"
    assert loaded.sources["LOG_LEVEL"] == "environment"
