"""The NetworkPolicy check: Observer's egress reaches DNS, PostgreSQL and KIS, and nothing else.

Ports alone do not limit egress: a rule without ``to:`` admits every destination on its ports,
including every pod and service of the cluster. So each egress rule must name its peers; a
peer ``ipBlock`` that covers the private ranges (the cluster) without excepting them counts as
"anywhere". Which KIS ports are needed follows the rendered ``KIS_ENV`` (real: 9443, 21000;
paper: 29443, 31000; both use 443 for the master files); the simulator needs none.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from observer.ops.verify.inventory import Doc, Inventory, Workload, resolved_env, selects
from observer.ops.verify.report import Report

KIS_PORTS = {"real": (9443, 21000, 443), "paper": (29443, 31000, 443)}
ALL_KIS_PORTS = frozenset(p for ports in KIS_PORTS.values() for p in ports)
DNS_PORT = 53
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def egress_policies(workload: Workload, inventory: Inventory) -> list[Doc]:
    """Policies selecting the workload that restrict egress (policyTypes as Kubernetes
    defaults them: Egress when the spec has egress rules)."""
    found = []
    for policy in inventory.network_policies:
        spec = policy.get("spec") or {}
        if (policy.get("metadata") or {}).get("namespace") != workload.namespace:
            continue
        if not selects(spec.get("podSelector") or {}, workload.pod_labels):
            continue
        types = spec.get("policyTypes")
        if ("Egress" in types) if types is not None else ("egress" in spec):
            found.append(policy)
    return found


def _rule_ports(rule: Doc) -> set[tuple[str, int]] | None:
    """(protocol, port) a rule admits; None when it admits every port."""
    ports = rule.get("ports")
    if not ports:
        return None
    found: set[tuple[str, int]] = set()
    for port in ports:
        number = port.get("port")
        if isinstance(number, int):
            end = int(port.get("endPort", number))
            found.update((str(port.get("protocol", "TCP")), v) for v in range(number, end + 1))
    return found


def _open_peer(peer: Doc) -> bool:
    """Whether a peer admits the cluster's private addresses (i.e. "anywhere")."""
    block = peer.get("ipBlock")
    if not block:
        return False
    try:
        cidr = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
        excepted = [ipaddress.ip_network(str(e), strict=False) for e in block.get("except") or []]
    except ValueError:
        return True
    for private in PRIVATE:
        if private.version != cidr.version or not private.subnet_of(cidr):  # type: ignore[arg-type]
            continue
        if not any(
            e.version == private.version and private.subnet_of(e)  # type: ignore[arg-type]
            for e in excepted
        ):
            return True
    return False


def _rule_problems(index: int, rule: Doc, db_port: int) -> list[str]:
    ports = _rule_ports(rule)
    peers = rule.get("to") or []
    shown = "every port" if ports is None else ", ".join(f"{p} {n}" for p, n in sorted(ports))
    problems = []
    if ports is None:
        problems.append(f"egress rule {index} admits every port; expected the ports it needs")
    if not peers:
        problems.append(
            f"egress rule {index} ({shown}) has no to: and reaches any destination, the "
            "cluster's pods included; expected DNS, PostgreSQL or KIS peers"
        )
    elif any(_open_peer(peer) for peer in peers):
        problems.append(
            f"egress rule {index} ({shown}) has an ipBlock covering the cluster's private "
            "ranges; expected them in except:"
        )
    extra = sorted(
        n for _, n in (ports or set()) if n not in ALL_KIS_PORTS and n not in (DNS_PORT, db_port)
    )
    if extra:
        shown_extra = ", ".join(map(str, extra[:5])) + (
            f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        )
        problems.append(f"egress rule {index} admits port(s) {shown_extra} Observer does not use")
    return problems


def _needed(workload: Workload, inventory: Inventory) -> tuple[int, list[tuple[str, int]], str]:
    env: dict[str, Any] = {}
    for container in workload.containers(init=False):
        env.update(resolved_env(container, inventory))
    db = env.get("DB_PORT")
    db_port = int(db.value) if db and db.value and db.value.isdigit() else 5432
    kis_env = env["KIS_ENV"].value if env.get("KIS_ENV") and env["KIS_ENV"].value else "real"
    source = env["OBSERVER_SOURCE"].value if env.get("OBSERVER_SOURCE") else "kis"
    kis = () if source != "kis" else KIS_PORTS.get(str(kis_env), KIS_PORTS["real"])
    needed = [("UDP", DNS_PORT), ("TCP", db_port)] + [("TCP", p) for p in kis]
    label = "no KIS (simulator)" if not kis else f"KIS {kis_env} ports {', '.join(map(str, kis))}"
    return db_port, needed, label


def check_network(workload: Workload, inventory: Inventory, report: Report) -> None:
    """A NetworkPolicy limits Observer's egress to DNS, PostgreSQL and KIS by port and peer."""
    db_port, needed, label = _needed(workload, inventory)
    policies = egress_policies(workload, inventory)
    if not policies:
        report.failed(
            "network",
            f"{workload.ref}: no NetworkPolicy restricts its egress; expected egress only to "
            f"DNS, PostgreSQL {db_port} and {label}",
        )
        return
    names = ", ".join(str((p.get("metadata") or {}).get("name")) for p in policies)
    allowed: set[tuple[str, int]] = set()
    problems: list[str] = []
    for policy in policies:
        for index, rule in enumerate((policy.get("spec") or {}).get("egress") or []):
            problems += [
                f"NetworkPolicy {(policy.get('metadata') or {}).get('name')} {p}"
                for p in _rule_problems(index, rule, db_port)
            ]
            allowed |= _rule_ports(rule) or set()
    problems += [
        f"egress to {proto} {port} not allowed by NetworkPolicy {names}; expected allowed"
        for proto, port in needed
        if (proto, port) not in allowed
    ]
    report.judge(
        "network",
        f"{workload.ref}: ",
        problems,
        f"{workload.ref}: NetworkPolicy {names} limits egress to DNS, PostgreSQL {db_port} "
        f"and {label}, each rule with its peers",
    )
