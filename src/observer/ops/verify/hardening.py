"""Static checks of how workloads run: security context, probes, rollout, images, network."""

from __future__ import annotations

from typing import Any

from observer.ops.verify.inventory import (
    RWO_MODES,
    Doc,
    Inventory,
    Workload,
    claim_names,
    is_observer_container,
    resolved_env,
    selects,
)
from observer.ops.verify.report import Report

# The HTTP endpoints the service answers (observer.api.server routes them; a test checks it).
HEALTH_PATH = "/health"
READY_PATH = "/ready"
KNOWN_ENDPOINTS = frozenset({HEALTH_PATH, READY_PATH, "/metrics", "/status"})
# Egress Observer needs: DNS, PostgreSQL, KIS REST (real/paper), KIS WebSocket (real/paper), 443.
KIS_PORTS = (9443, 29443, 21000, 31000, 443)
MIN_GRACE_SECONDS = 30


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
    for problem in problems:
        report.failed("security", f"{workload.ref} {problem}")
    if not problems:
        report.passed(
            "security", f"{workload.ref}: non-root, read-only root, no escalation, ALL dropped"
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
    if last.split(":", 1)[1] == "latest":
        return f"image {image} uses tag latest; expected a pinned version tag"
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
    for problem in problems:
        report.failed("probes", f"{workload.ref} {problem}")
    if not problems:
        report.passed("probes", f"{workload.ref}: liveness and readiness probes in place")


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
    for problem in problems:
        report.failed("rollout", f"{workload.ref} {problem}")
    if not problems:
        report.passed(
            "rollout", f"{workload.ref}: {replicas} replica(s), no shared RWO volume in a rollout"
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


def _allowed_ports(policies: list[Doc]) -> tuple[bool, set[tuple[str, int]]]:
    """(everything allowed, {(protocol, port)}) over the egress rules of the policies."""
    allowed: set[tuple[str, int]] = set()
    for policy in policies:
        for rule in (policy.get("spec") or {}).get("egress") or []:
            ports = rule.get("ports")
            if not ports:
                return True, allowed
            for port in ports:
                number = port.get("port")
                if not isinstance(number, int):
                    continue
                end = int(port.get("endPort", number))
                for value in range(number, end + 1):
                    allowed.add((str(port.get("protocol", "TCP")), value))
    return False, allowed


def check_network(workload: Workload, inventory: Inventory, report: Report) -> None:
    """A NetworkPolicy limits Observer's egress and lets DNS, PostgreSQL and KIS through."""
    policies = [
        p
        for p in inventory.network_policies
        if (p.get("metadata") or {}).get("namespace") == workload.namespace
        and selects((p.get("spec") or {}).get("podSelector") or {}, workload.pod_labels)
        and "Egress" in ((p.get("spec") or {}).get("policyTypes") or [])
    ]
    if not policies:
        report.failed(
            "network",
            f"{workload.ref}: no NetworkPolicy restricts its egress; expected egress only to DNS, "
            f"PostgreSQL and KIS ports {', '.join(map(str, KIS_PORTS))}",
        )
        return
    names = ", ".join(str((p.get("metadata") or {}).get("name")) for p in policies)
    everything, allowed = _allowed_ports(policies)
    db_port = 5432
    for container in workload.containers(init=False):
        value = resolved_env(container, inventory).get("DB_PORT")
        if value and value.value and value.value.isdigit():
            db_port = int(value.value)
    needed = [("UDP", 53), ("TCP", db_port)] + [("TCP", p) for p in KIS_PORTS]
    missing = (
        []
        if everything
        else [f"{proto} {port}" for proto, port in needed if (proto, port) not in allowed]
    )
    for item in missing:
        report.failed(
            "network",
            f"{workload.ref}: egress to {item} not allowed by NetworkPolicy {names}; "
            "expected allowed",
        )
    if not missing:
        report.passed(
            "network", f"{workload.ref}: NetworkPolicy {names} allows DNS, {db_port} and KIS ports"
        )
