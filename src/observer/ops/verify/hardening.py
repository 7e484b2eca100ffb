"""Static checks of how workloads run: security context, probes, rollout, images, network."""

from __future__ import annotations

import re
from typing import Any

from observer.ops.verify.inventory import (
    RWO_MODES,
    Doc,
    Inventory,
    Workload,
    claim_names,
    is_observer_container,
    resolved_env,
)
from observer.ops.verify.network import check_network
from observer.ops.verify.report import Report

# The HTTP endpoints the service answers (observer.api.server routes them; a test checks it).
HEALTH_PATH = "/health"
READY_PATH = "/ready"
KNOWN_ENDPOINTS = frozenset({HEALTH_PATH, READY_PATH, "/metrics", "/status"})
MIN_GRACE_SECONDS = 30
# A pinned tag names at least major.minor (15.10, 0.1.0, v1.2); 15 or 15-alpine float.
_PINNED_TAG = re.compile(r"^v?[0-9]+\.[0-9]+")


def check_all(inventory: Inventory, report: Report) -> None:
    """Every hardening check on every workload."""
    for workload in inventory.workloads:
        observer = any(is_observer_container(c, inventory) for c in workload.containers())
        check_security(workload, observer, report)
        check_images(workload, report)
        if workload.long_running:
            check_probes(workload, inventory, report)
            check_rollout(workload, observer, inventory, report)
        if workload.long_running and observer:
            check_shutdown(workload, report)
            check_network(workload, inventory, report)
        check_volume_mounts(workload, report)


def _effective(container: Doc, pod_sc: Doc, key: str) -> Any:
    container_sc = container.get("securityContext") or {}
    return container_sc[key] if key in container_sc else pod_sc.get(key)


def _container_problems(container: Doc, pod_sc: Doc) -> list[str]:
    sc = container.get("securityContext") or {}
    problems = []
    if _effective(container, pod_sc, "runAsNonRoot") is not True:
        problems.append("securityContext.runAsNonRoot is not true; expected true")
    if _effective(container, pod_sc, "runAsUser") == 0:
        problems.append("securityContext.runAsUser is 0; expected a non-root uid")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(
            f"securityContext.readOnlyRootFilesystem is {sc.get('readOnlyRootFilesystem')}; "
            "expected true"
        )
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(
            f"securityContext.allowPrivilegeEscalation is {sc.get('allowPrivilegeEscalation')}; "
            "expected false"
        )
    if sc.get("privileged") is True:
        problems.append("securityContext.privileged is true; expected false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        problems.append("securityContext.capabilities.drop lacks ALL; expected [ALL]")
    seccomp = (_effective(container, pod_sc, "seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"seccompProfile.type is {seccomp}; expected RuntimeDefault")
    return problems


def check_security(workload: Workload, observer: bool, report: Report) -> None:
    """Non-root, read-only root filesystem, no escalation, no capabilities, seccomp."""
    spec = workload.pod_spec
    pod_sc = spec.get("securityContext") or {}
    problems = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(f"spec.{flag} is true; expected false")
    if observer and spec.get("automountServiceAccountToken") is not False:
        problems.append("spec.automountServiceAccountToken is not false; expected false")
    if observer and workload.long_running and pod_sc.get("fsGroup") is None:
        problems.append("spec.securityContext.fsGroup is not set; expected the app's gid (1000)")
    for container in workload.containers():
        for problem in _container_problems(container, pod_sc):
            problems.append(f"container {container.get('name', '?')} {problem}")
    report.judge(
        "security",
        f"{workload.ref} ",
        problems,
        f"{workload.ref}: non-root, read-only root, no escalation, ALL dropped",
    )


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it is."""
    if not image:
        return "has no image"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image} has no tag; expected a pinned version tag"
    tag = last.split(":", 1)[1]
    if tag == "latest":
        return f"image {image} uses tag latest; expected a pinned version tag"
    if not _PINNED_TAG.search(tag):
        return (
            f"image {image} has the floating tag {tag} (it moves with every upstream release); "
            "expected a full version such as 15.10 or a digest"
        )
    return None


def check_images(workload: Workload, report: Report) -> None:
    """Every image has a pinned tag or a digest."""
    for container in workload.containers():
        image = str(container.get("image", ""))
        problem = image_problem(image)
        where = f"{workload.ref} container {container.get('name', '?')}"
        if problem:
            report.failed("image", f"{where} {problem}")
        else:
            report.passed("image", f"{where} {image}")


def _port_number(port: Any, container: Doc) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    return None


def _probe_problems(container: Doc, inventory: Inventory) -> list[str]:
    expected = {
        "startupProbe": HEALTH_PATH,
        "livenessProbe": HEALTH_PATH,
        "readinessProbe": READY_PATH,
    }
    env = resolved_env(container, inventory)
    service_port = env.get("SERVICE_PORT")
    problems = []
    for kind, path in expected.items():
        probe = container.get(kind)
        if probe is None:
            if kind != "startupProbe":
                problems.append(f"{kind} is missing; expected httpGet {path}")
            continue
        http = probe.get("httpGet")
        if not http:
            problems.append(f"{kind} is not httpGet; expected httpGet {path}")
            continue
        if http.get("path") != path:
            problems.append(f"{kind}.httpGet.path is {http.get('path')}; expected {path}")
        port = _port_number(http.get("port"), container)
        if port is None:
            problems.append(f"{kind}.httpGet.port {http.get('port')} is not a declared port")
        elif service_port and service_port.value and str(port) != service_port.value:
            problems.append(
                f"{kind}.httpGet.port is {port}; expected SERVICE_PORT {service_port.value}"
            )
    return problems


def check_probes(workload: Workload, inventory: Inventory, report: Report) -> None:
    """Long-running containers have liveness and readiness probes; Observer's hit /health and
    /ready on SERVICE_PORT."""
    problems = []
    for container in workload.containers(init=False):
        name = container.get("name", "?")
        if is_observer_container(container, inventory):
            problems += [f"container {name} {p}" for p in _probe_problems(container, inventory)]
            continue
        for kind in ("livenessProbe", "readinessProbe"):
            if kind not in container:
                problems.append(f"container {name} {kind} is missing; expected one")
    report.judge(
        "probes",
        f"{workload.ref} ",
        problems,
        f"{workload.ref}: liveness and readiness probes in place",
    )


def check_rollout(workload: Workload, observer: bool, inv: Inventory, report: Report) -> None:
    """Never two pods on one RWO volume or one app key: 1 replica and Recreate."""
    rwo = sorted(c for c in claim_names(workload) if inv.claim_modes(c) & RWO_MODES)
    problems = []
    replicas = workload.replicas
    if replicas > 1 and (rwo or observer):
        why = f"ReadWriteOnce claim {', '.join(rwo)}" if rwo else "one KIS app key"
        problems.append(f"spec.replicas is {replicas} with {why}; expected 1")
    if workload.kind == "Deployment":
        strategy = (workload.doc.get("spec", {}).get("strategy") or {}).get("type")
        if strategy in (None, "RollingUpdate") and (rwo or observer):
            shown = strategy or "RollingUpdate (the default)"
            why = f"ReadWriteOnce claim {', '.join(rwo)}" if rwo else "one KIS app key"
            problems.append(
                f"spec.strategy.type is {shown} with {why}: old and new pod would run together; "
                "expected Recreate"
            )
    report.judge(
        "rollout",
        f"{workload.ref} ",
        problems,
        f"{workload.ref}: {replicas} replica(s), no shared RWO volume in a rollout",
    )


def check_shutdown(workload: Workload, report: Report) -> None:
    """The grace period leaves time to flush and fsync on SIGTERM."""
    grace = workload.pod_spec.get("terminationGracePeriodSeconds", 30)
    if int(grace) < MIN_GRACE_SECONDS:
        report.failed(
            "shutdown",
            f"{workload.ref} spec.terminationGracePeriodSeconds is {grace}; "
            f"expected >= {MIN_GRACE_SECONDS} (flush and fsync on SIGTERM)",
        )
    else:
        report.passed("shutdown", f"{workload.ref} terminationGracePeriodSeconds {grace}")


def check_volume_mounts(workload: Workload, report: Report) -> None:
    """Every volumeMount names a volume of the pod; no hostPath is mounted writable."""
    volumes = workload.volumes()
    templates = workload.claim_templates()
    problems = []
    for container in workload.containers():
        cname = container.get("name", "?")
        for mount in container.get("volumeMounts") or []:
            name = mount.get("name")
            where = f"container {cname} volumeMount {name} at {mount.get('mountPath')}"
            if name not in volumes and name not in templates:
                problems.append(f"{where} names no volume of the pod; expected one in spec.volumes")
            elif name in volumes and "hostPath" in volumes[name] and not mount.get("readOnly"):
                path = (volumes[name]["hostPath"] or {}).get("path")
                problems.append(
                    f"{where} is the node's {path} mounted writable; expected readOnly: true "
                    "(or a persistentVolumeClaim)"
                )
    report.judge(
        "volumes",
        f"{workload.ref} ",
        problems,
        f"{workload.ref}: every mount names a volume, no writable hostPath",
    )
