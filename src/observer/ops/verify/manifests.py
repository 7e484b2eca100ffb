"""``observer verify manifests DIR``: the deployment contract, checked on rendered manifests.

The contract (DEPLOYMENT.md): every path variable set and on a persistent volume where data
must survive, every claim declared and used, every referenced Secret and ConfigMap produced
(or a documented prerequisite), plus the hardening checks of :mod:`.hardening`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from observer.config.exceptions import ConfigError
from observer.config.paths import K8S_PATHS
from observer.config.settings import (
    ALIASES,
    NON_SETTING_VARS,
    REQUIRED_IN_K8S,
    SECRET_VARS,
    load_settings,
)
from observer.ops.verify import hardening, storage
from observer.ops.verify.inventory import (
    Doc,
    EnvValue,
    Inventory,
    Workload,
    claim_names,
    mount_for,
    resolved_env,
)
from observer.ops.verify.placeholders import check_placeholders
from observer.ops.verify.render import render_kustomize
from observer.ops.verify.report import Report

# Paths whose content must survive a pod replacement, and the one that is mounted read-only.
PERSISTENT_PATHS = (
    "OBSERVER_DATA_DIR",
    "OBSERVER_LOG_DIR",
    "OBSERVER_SNAPSHOT_DIR",
    "OBSERVER_SYSTEM_LOG_DIR",
    "OBSERVER_MAINTENANCE_LOG_DIR",
    "KIS_TOKEN_CACHE_DIR",
)
CONFIG_PATH = "OBSERVER_CONFIG_DIR"
SECRET_KEYS = frozenset({*SECRET_VARS, "DB_USER"})  # never in a ConfigMap
PREREQUISITES_FILE = "PREREQUISITES.md"
_PREREQ_SECRET = re.compile(r"^\s*[-*]\s*Secret\s+`([^`]+)`", re.MULTILINE)


def find_nearest(directory: Path, name: str) -> Path | None:
    """The file ``name`` of DIR or of its nearest ancestor (stopping at the repository root)."""
    for folder in (directory.resolve(), *directory.resolve().parents):
        candidate = folder / name
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            return None
    return None


def prerequisite_secrets(path: Path | None) -> set[str]:
    """Secret names listed as ``- Secret `name` ...`` lines in a prerequisites file."""
    if path is None:
        return set()
    return set(_PREREQ_SECRET.findall(path.read_text(encoding="utf-8")))


def verify_manifests(
    directory: Path,
    *,
    prerequisites: Path | None = None,
    kubectl: str | None = None,
    allow_placeholders: bool = False,
    capacity: Path | None = None,
) -> Report:
    """Render DIR and run every static check on the result."""
    rendered = render_kustomize(directory, kubectl)
    report = Report(f"verify manifests {directory}")
    detail = f"{len(rendered.docs)} resources from {directory}"
    report.passed(
        "render", detail + (f" (kubectl said: {rendered.warnings})" if rendered.warnings else "")
    )
    prereq_file = prerequisites or find_nearest(directory, PREREQUISITES_FILE)
    check_inventory(
        Inventory.build(rendered.docs),
        report,
        prerequisite_secrets(prereq_file),
        allow_placeholders=allow_placeholders,
        capacity=storage.load_capacity(capacity or find_nearest(directory, storage.CAPACITY_FILE)),
    )
    return report


def check_inventory(
    inventory: Inventory,
    report: Report,
    prerequisites: set[str],
    *,
    allow_placeholders: bool = False,
    capacity: dict[str, Any] | None = None,
) -> None:
    """Every check, on an already built inventory (also used by tests on hand-made docs)."""
    pairs = inventory.observer_workloads()
    if not pairs:
        report.failed(
            "workload",
            "no workload runs Observer (no container with OBSERVER_* variables or an observer "
            "image); expected a Deployment running `observer run`",
        )
    for workload, container in pairs:
        check_environment(workload, container, inventory, report)
        if workload.long_running:
            check_persistence(workload, container, inventory, report)
    check_claims(inventory, report)
    check_secrets(inventory, report, prerequisites)
    check_config_maps(inventory, report)
    hardening.check_all(inventory, report)
    storage.check_binding_waves(inventory, report)
    storage.check_capacity(inventory, report, capacity)
    check_placeholders(inventory, report, allowed=allow_placeholders)


def _where(workload: Workload, container: Doc) -> str:
    return f"{workload.ref} container {container.get('name', '?')}"


def check_environment(workload: Workload, container: Doc, inv: Inventory, report: Report) -> None:
    """Every variable Kubernetes mode requires is set; no unknown OBSERVER_*; no secret in a
    ConfigMap."""
    env = resolved_env(container, inv)
    where = _where(workload, container)
    sources = sorted({v.origin for v in env.values() if v.origin.startswith("ConfigMap")})
    from_text = ", ".join(sources) if sources else "no ConfigMap"
    missing = [alias for alias in REQUIRED_IN_K8S if not (env.get(alias) and env[alias].value)]
    for alias in missing:
        expected = K8S_PATHS.get(alias, "one of kis, sim, replay")
        report.failed(
            "env",
            f"{where}: {alias} is not set (env and envFrom: {from_text}); expected {expected} "
            "(Kubernetes mode stops start-up without it)",
        )
    for name, value in sorted(env.items()):
        if name.startswith("OBSERVER_") and name not in ALIASES and name not in NON_SETTING_VARS:
            report.failed(
                "env", f"{where}: {name} ({value.origin}) is not a setting; start-up would stop"
            )
    for problem in settings_problems(env):
        report.failed("env", f"{where}: {problem}; start-up would stop")
    if not missing:
        report.passed(
            "env", f"{where}: all {len(REQUIRED_IN_K8S)} required variables set ({from_text})"
        )


def settings_problems(env: dict[str, EnvValue]) -> list[str]:
    """What the service's own validation says about the values known statically (Secrets and
    fieldRefs are unknown here); missing and unknown variables are reported separately."""
    known = {name: v.value for name, v in env.items() if v.value is not None}
    known.setdefault("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # set in every pod
    try:
        load_settings(known)
    except ConfigError as exc:
        return [
            p
            for p in exc.problems
            if "required in Kubernetes but not set" not in p and "unknown variable" not in p
        ]
    return []


def check_persistence(workload: Workload, container: Doc, inv: Inventory, report: Report) -> None:
    """Data, logs, universe and token cache on PVC mounts; the config dir mounted."""
    env = resolved_env(container, inv)
    where = _where(workload, container)
    for alias in (*PERSISTENT_PATHS, CONFIG_PATH):
        value = env.get(alias)
        if value is None or not value.value:
            continue  # reported by check_environment
        mount = mount_for(value.value, container, workload)
        label = f"{where}: {alias}={value.value}"
        if mount is None:
            report.failed(
                "persistence",
                f"{label} is on the container filesystem (no volumeMount at or above it); "
                f"expected {'a volume' if alias == CONFIG_PATH else 'a persistentVolumeClaim'} "
                "mounted there",
            )
        elif alias == CONFIG_PATH:
            ro = "read-only" if mount.read_only else "writable (expected readOnly: true)"
            report.passed(
                "persistence",
                f"{label} mounted from {mount.source} volume {mount.volume_name}, {ro}",
            )
        elif mount.source not in ("persistentVolumeClaim", "volumeClaimTemplate"):
            report.failed(
                "persistence",
                f"{label}: volume {mount.volume_name} at {mount.mount_path} is {mount.source}; "
                "expected persistentVolumeClaim (the data would vanish with the pod)",
            )
        elif mount.read_only:
            report.failed(
                "persistence",
                f"{label}: volumeMount {mount.volume_name} is readOnly; expected writable",
            )
        else:
            report.passed(
                "persistence",
                f"{label} on claim {mount.claim} "
                f"(volume {mount.volume_name} at {mount.mount_path})",
            )


def check_claims(inventory: Inventory, report: Report) -> None:
    """Every claim a workload mounts is declared; every declared claim is mounted."""
    used: dict[str, list[str]] = {}
    for workload in inventory.workloads:
        for claim, volume in claim_names(workload).items():
            used.setdefault(claim, []).append(workload.ref)
            if claim not in inventory.claims:
                report.failed(
                    "pvc",
                    f"{workload.ref} spec.volumes[{volume}].persistentVolumeClaim.claimName "
                    f"{claim}: no PersistentVolumeClaim {claim} in the manifests; "
                    "expected it declared",
                )
    for name, doc in sorted(inventory.claims.items()):
        spec = doc.get("spec") or {}
        size = (spec.get("resources") or {}).get("requests", {}).get("storage", "?")
        modes = ",".join(spec.get("accessModes") or []) or "no accessModes"
        if name not in used:
            report.failed(
                "pvc",
                f"PersistentVolumeClaim/{name} ({size}, {modes}) is declared but no workload "
                "mounts it; expected a volume referencing it (or remove it)",
            )
        else:
            report.passed(
                "pvc",
                f"PersistentVolumeClaim/{name} {size} {modes} used by {', '.join(used[name])}",
            )


def _secret_refs(workload: Workload) -> list[tuple[str, str, str | None, bool]]:
    """(secret name, field, key or None, optional) for every Secret the pod references."""
    refs: list[tuple[str, str, str | None, bool]] = []

    def add(ref: dict[str, Any], name: str, field: str, key: str | None = None) -> None:
        refs.append((ref.get(name, ""), field, key, bool(ref.get("optional"))))

    for container in workload.containers():
        cname = container.get("name", "?")
        for source in container.get("envFrom") or []:
            if ref := source.get("secretRef"):
                add(ref, "name", f"container {cname} envFrom secretRef")
        for item in container.get("env") or []:
            if ref := (item.get("valueFrom") or {}).get("secretKeyRef"):
                field = f"container {cname} env {item.get('name')} secretKeyRef"
                add(ref, "name", field, ref.get("key"))
    for volume in workload.pod_spec.get("volumes") or []:
        if secret := volume.get("secret"):
            add(secret, "secretName", f"volume {volume.get('name')} secret")
    for pull in workload.pod_spec.get("imagePullSecrets") or []:
        refs.append((pull.get("name", ""), "imagePullSecrets", None, False))
    return refs


def check_secrets(inventory: Inventory, report: Report, prerequisites: set[str]) -> None:
    """Each referenced Secret is produced by a manifest (with the key asked for) or is a
    documented prerequisite."""
    for workload in inventory.workloads:
        for name, field, key, optional in _secret_refs(workload):
            where = f"{workload.ref} {field} {name}"
            if name in inventory.secrets:
                keys = inventory.secrets[name]
                producer = inventory.secret_producers[name]
                if key is not None and key not in keys:
                    report.failed(
                        "secrets",
                        f"{where}: {producer} has no key {key} "
                        f"(has {', '.join(sorted(keys)) or 'none'})",
                    )
                else:
                    report.passed(
                        "secrets", f"{where}{' key ' + key if key else ''}: produced by {producer}"
                    )
            elif name in prerequisites:
                report.passed("secrets", f"{where}: documented prerequisite ({PREREQUISITES_FILE})")
            elif optional:
                report.skipped("secrets", f"{where}: not produced, but marked optional")
            else:
                report.failed(
                    "secrets",
                    f"{where}: no Secret or SealedSecret in the manifests produces {name} and "
                    f"{PREREQUISITES_FILE} does not list it; expected one of the two",
                )


def _config_map_refs(workload: Workload) -> list[tuple[str, str, bool]]:
    """(ConfigMap name, field, optional) for every ConfigMap the pod references."""
    refs: list[tuple[str, str, bool]] = []
    for container in workload.containers():
        cname = container.get("name", "?")
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef")
            if ref:
                refs.append(
                    (ref.get("name", ""), f"container {cname} envFrom", bool(ref.get("optional")))
                )
        for item in container.get("env") or []:
            ref = (item.get("valueFrom") or {}).get("configMapKeyRef")
            if ref:
                field = f"container {cname} env {item.get('name')}"
                refs.append((ref.get("name", ""), field, bool(ref.get("optional"))))
    for volume in workload.pod_spec.get("volumes") or []:
        ref = volume.get("configMap")
        if ref:
            refs.append(
                (ref.get("name", ""), f"volume {volume.get('name')}", bool(ref.get("optional")))
            )
    return refs


def check_config_maps(inventory: Inventory, report: Report) -> None:
    """Each referenced ConfigMap is produced by a manifest; no ConfigMap holds a secret."""
    for name, data in sorted(inventory.config_maps.items()):
        for key in sorted(set(data) & SECRET_KEYS):
            report.failed(
                "configmap",
                f"ConfigMap/{name} data.{key} is a secret in plain text; expected it in a Secret",
            )
    for workload in inventory.workloads:
        for name, field, optional in _config_map_refs(workload):
            if name in inventory.config_maps:
                report.passed("configmap", f"{workload.ref} {field}: ConfigMap {name} present")
            elif not optional:
                report.failed(
                    "configmap",
                    f"{workload.ref} {field}: ConfigMap {name} is not in the manifests; "
                    "expected it produced",
                )
