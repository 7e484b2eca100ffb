"""The path contract: every directory variable, its local default and its Kubernetes value,
and the checks that each is absolute, creatable and writable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from observer.config.exceptions import ConfigError

if TYPE_CHECKING:
    from observer.config.settings import Settings

K8S_ROOT = "/opt/platform/runtime/observer"

# Path variables: alias -> (field name, default relative to its parent, parent alias or None=home).
PATH_VARS: dict[str, tuple[str, str, str | None]] = {
    "OBSERVER_DATA_DIR": ("data_dir", "data", None),
    "OBSERVER_LOG_DIR": ("log_dir", "logs", None),
    "OBSERVER_CONFIG_DIR": ("config_dir", "config", None),
    "OBSERVER_SNAPSHOT_DIR": ("snapshot_dir", "universe", None),
    "OBSERVER_SYSTEM_LOG_DIR": ("system_log_dir", "system", "OBSERVER_LOG_DIR"),
    "OBSERVER_MAINTENANCE_LOG_DIR": ("maintenance_log_dir", "maintenance", "OBSERVER_LOG_DIR"),
    "KIS_TOKEN_CACHE_DIR": ("token_cache_dir", "cache", "OBSERVER_DATA_DIR"),
}
# The value each path variable has in Kubernetes (the ConfigMap, the mounts and this agree).
K8S_PATHS: dict[str, str] = {
    "OBSERVER_DATA_DIR": f"{K8S_ROOT}/data",
    "OBSERVER_LOG_DIR": f"{K8S_ROOT}/logs",
    "OBSERVER_CONFIG_DIR": f"{K8S_ROOT}/config",
    "OBSERVER_SNAPSHOT_DIR": f"{K8S_ROOT}/universe",
    "OBSERVER_SYSTEM_LOG_DIR": f"{K8S_ROOT}/logs/system",
    "OBSERVER_MAINTENANCE_LOG_DIR": f"{K8S_ROOT}/logs/maintenance",
    "KIS_TOKEN_CACHE_DIR": f"{K8S_ROOT}/data/cache",
}


def check_paths(settings: Settings) -> list[str]:
    """Problems with the configured directories: each must exist or be creatable, and be
    writable (the config directory only readable). Creates nothing."""
    problems: list[str] = []
    for alias, (field, _default, _parent) in PATH_VARS.items():
        path: Path = getattr(settings, field)
        writable = alias != "OBSERVER_CONFIG_DIR"
        problem = _path_problem(path, writable)
        if problem:
            problems.append(f"{alias}: {path} {problem}")
    return problems


def _path_problem(path: Path, writable: bool) -> str | None:
    if path.exists():
        if not path.is_dir():
            return "exists but is not a directory"
        mode = os.W_OK | os.X_OK if writable else os.R_OK | os.X_OK
        if not os.access(path, mode):
            return "is not writable" if writable else "is not readable"
        return None
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        return f"does not exist and cannot be created ({ancestor} is not writable)"
    return None


def prepare_paths(settings: Settings) -> None:
    """Create every writable directory (the config directory only if it is missing locally)."""
    problems = check_paths(settings)
    if problems:
        raise ConfigError(problems)
    for alias, (field, _default, _parent) in PATH_VARS.items():
        path: Path = getattr(settings, field)
        if alias == "OBSERVER_CONFIG_DIR" and settings.in_kubernetes:
            continue
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problems.append(f"{alias}: cannot create {path}: {exc.strerror}")
    if problems:
        raise ConfigError(problems)
