"""Static storage checks: claims that can bind during an Argo CD sync, and claims that do not
fill before their retention horizon.

``local-path`` (K3s) binds a claim only when a pod uses it (WaitForFirstConsumer). Argo CD
treats a Pending claim as Progressing and waits for its wave to be healthy before the next, so
a claim in an earlier wave than every consumer never binds and the sync never ends.

Days-until-full uses the measured rates of ``capacity.yaml`` (bench/bench_capacity.py writes
them) and the retention settings the manifests render; local-path enforces no size, so the
claims, the disk guard's floor and the kubelet's eviction threshold are checked against the
node too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from observer.config.exceptions import ConfigError
from observer.config.settings import Settings, load_settings
from observer.ops.verify.inventory import (
    Doc,
    Inventory,
    Workload,
    claim_names,
    mount_for,
    resolved_env,
)
from observer.ops.verify.report import Report

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
WFFC = "WaitForFirstConsumer"
# Classes known to bind late without being rendered: K3s's default (the target).
KNOWN_WFFC_CLASSES = frozenset({"local-path"})
CAPACITY_FILE = "capacity.yaml"
REQUIRED_RATES = (
    "archive_zstd_bytes_per_day",
    "archive_plain_bytes_peak",
    "db_bytes_per_day",
    "log_bytes_per_day",
    "universe_bytes_per_day",
)
GIB = 1024**3
TRADING_DAYS_PER_WEEK = 5
_QUANTITY = re.compile(r"^([0-9.]+)([KMGTE]i?|k)?$")
_FACTORS = {
    None: 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "E": 10**18,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Ei": 1024**6,
}  # fmt: skip


def parse_quantity(text: str) -> int | None:
    """Bytes of a Kubernetes quantity such as ``20Gi`` or ``500M`` (None if unreadable)."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        return None
    return int(float(match.group(1)) * _FACTORS[match.group(2)])


def wave(doc: Doc) -> int:
    value = ((doc.get("metadata") or {}).get("annotations") or {}).get(WAVE_ANNOTATION, "0")
    try:
        return int(str(value))
    except ValueError:
        return 0


def _binding_mode(claim: Doc, inventory: Inventory) -> tuple[bool, str]:
    """(binds only for a consumer, why) for a claim's storage class."""
    name = (claim.get("spec") or {}).get("storageClassName")
    classes = {
        str((d.get("metadata") or {}).get("name")): d
        for d in inventory.docs
        if d.get("kind") == "StorageClass"
    }
    if name is None:
        return True, "the default class (local-path on K3s: WaitForFirstConsumer)"
    if name in classes:
        mode = classes[name].get("volumeBindingMode", "Immediate")
        return mode == WFFC, f"StorageClass {name} ({mode})"
    if name in KNOWN_WFFC_CLASSES:
        return True, f"StorageClass {name} (WaitForFirstConsumer)"
    return False, f"StorageClass {name} (not rendered; assumed Immediate)"


def check_binding_waves(inventory: Inventory, report: Report) -> None:
    """No claim on a WaitForFirstConsumer class sits in an earlier sync wave than all of its
    consumers, and none is consumed only by CronJobs (it would stay Pending until a run)."""
    consumers: dict[str, list[Workload]] = {}
    for workload in inventory.workloads:
        for used in claim_names(workload):
            consumers.setdefault(used, []).append(workload)
    for name, claim in sorted(inventory.claims.items()):
        late, why = _binding_mode(claim, inventory)
        users = consumers.get(name, [])
        if not late or not users:
            continue  # not mounted at all: check_claims reports it
        starters = [w for w in users if w.kind != "CronJob"]
        where = f"PersistentVolumeClaim/{name} (wave {wave(claim)}, {why})"
        if not starters:
            report.failed(
                "binding",
                f"{where} is used only by {', '.join(w.ref for w in users)}: it stays Pending "
                "until the first scheduled run and Argo CD waits for it; expected a consumer "
                "that starts at sync, or no claim of its own",
            )
            continue
        first = min(wave(w.doc) for w in starters)
        if wave(claim) < first:
            report.failed(
                "binding",
                f"{where} is in an earlier sync wave than every consumer "
                f"({', '.join(f'{w.ref} wave {wave(w.doc)}' for w in starters)}): it binds only "
                f"when a pod uses it, so the sync waits forever; expected wave >= {first}",
            )
        else:
            report.passed("binding", f"{where} binds with {starters[0].ref} (wave {first})")


# -- capacity ---------------------------------------------------------------------------------
def load_capacity(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) and "rates" in loaded else None


def trading_days(calendar_days: int) -> int:
    return math.ceil(calendar_days * TRADING_DAYS_PER_WEEK / 7)


@dataclass(frozen=True)
class Growth:
    """One thing growing on a claim: bytes per day it is written, for how many calendar days
    retention keeps it, and whether it is written on trading days only."""

    what: str
    per_day: float
    days: int
    trading_only: bool

    def held(self) -> float:
        return self.per_day * (trading_days(self.days) if self.trading_only else self.days)

    def per_calendar_day(self) -> float:
        return self.per_day * (TRADING_DAYS_PER_WEEK / 7 if self.trading_only else 1)


@dataclass
class ClaimLoad:
    """What lives on one claim: a fixed part and what grows until retention removes it."""

    claim: str
    size: int
    fixed: float = 0.0
    parts: list[Growth] = field(default_factory=list)

    def needed(self) -> float:
        return self.fixed + sum(part.held() for part in self.parts)

    def per_calendar_day(self) -> float:
        return sum(part.per_calendar_day() for part in self.parts)


def _settings_of(env: dict[str, Any]) -> Settings | None:
    known = {name: v.value for name, v in env.items() if v.value is not None}
    known.setdefault("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    try:
        return load_settings(known).settings
    except ConfigError:
        return None  # reported by the env check


def _service(inventory: Inventory) -> tuple[Workload, Doc, Settings] | None:
    for workload, container in inventory.observer_workloads():
        if workload.long_running:
            settings = _settings_of(resolved_env(container, inventory))
            if settings is not None:
                return workload, container, settings
    return None


def _loads(inventory: Inventory, rates: dict[str, Any], node: dict[str, Any]) -> list[ClaimLoad]:
    found = _service(inventory)
    if found is None:
        return []
    workload, container, s = found
    loads: dict[str, ClaimLoad] = {}

    def add(path: Path | None, claim: str | None, growth: Growth, fixed: float = 0.0) -> None:
        if path is not None:
            mount = mount_for(str(path), container, workload)
            claim = mount.claim if mount else None
        if claim is None or claim not in inventory.claims:
            return
        spec = inventory.claims[claim].get("spec") or {}
        size = parse_quantity((spec.get("resources") or {}).get("requests", {}).get("storage", ""))
        load = loads.setdefault(claim, ClaimLoad(claim, size or 0))
        load.fixed += fixed
        load.parts.append(growth)

    archive = float(rates["archive_zstd_bytes_per_day"])
    plain = float(rates["archive_plain_bytes_peak"])
    days = s.retention_archive_days + 1
    add(s.data_dir, None, Growth("archive", archive, days, True), plain)
    days = s.retention_log_days + 1
    add(s.log_dir, None, Growth("logs", float(rates["log_bytes_per_day"]), days, False))
    universe = float(rates["universe_bytes_per_day"])
    add(s.snapshot_dir, None, Growth("universe", universe, s.retention_snapshot_days + 1, False))
    for other in inventory.workloads:
        images = " ".join(str(c.get("image", "")) for c in other.containers(init=False))
        if other.long_running and "postgres" in images:
            wal = float(node.get("postgres_wal_gib", 1)) * GIB
            database = Growth(
                "database", float(rates["db_bytes_per_day"]), s.retention_db_days + 1, True
            )
            for claim in claim_names(other):
                add(None, claim, database, wal)
    return list(loads.values())


def check_capacity(inventory: Inventory, report: Report, model: dict[str, Any] | None) -> None:
    """Each claim holds its retention with a margin; the claims and the disk guard's floor fit
    the node; the floor sits above the kubelet's eviction threshold."""
    if model is None:
        report.skipped("capacity", f"no {CAPACITY_FILE} with measured rates; nothing to size")
        return
    rates, node = model.get("rates") or {}, model.get("node") or {}
    missing = sorted(set(REQUIRED_RATES) - set(rates))
    if missing:
        report.skipped("capacity", f"{CAPACITY_FILE} lacks the rates {', '.join(missing)}")
        return
    margin = 1 - float(node.get("margin_percent", 10)) / 100
    total = 0
    for load in sorted(_loads(inventory, rates, node), key=lambda c: c.claim):
        total += load.size
        usable = load.size * margin
        needed = load.needed()
        horizon = max((part.days for part in load.parts), default=0)
        daily = load.per_calendar_day()
        fill = (usable - load.fixed) / daily if daily > 0 else math.inf
        what = ", ".join(part.what for part in load.parts)
        detail = (
            f"PersistentVolumeClaim/{load.claim} {load.size / GIB:.1f} GiB ({what}): needs "
            f"{needed / GIB:.1f} GiB at its {horizon}-day retention horizon; fills "
            f"({margin:.0%} of it) in {fill:.0f} days"
        )
        if needed > usable:
            report.failed("capacity", detail + "; expected the claim to outlast its retention")
        else:
            report.passed("capacity", detail)
    check_node(inventory, report, node, total)


def check_node(inventory: Inventory, report: Report, node: dict[str, Any], total: int) -> None:
    """Claims + floor within the node's free space; floor above the eviction threshold."""
    found = _service(inventory)
    if found is None or "disk_gib" not in node:
        return
    floor = found[2].disk_min_free_mb * 1024**2
    eviction = float(node["disk_gib"]) * GIB * float(node.get("eviction_hard_percent", 10)) / 100
    if floor <= eviction:
        report.failed(
            "capacity",
            f"OBSERVER_DISK_MIN_FREE_MB {floor // 1024**2} is at or below the kubelet's eviction "
            f"threshold ({eviction / 1024**2:.0f} MiB free of a {node['disk_gib']} GiB node): the "
            "node would evict the pod before the archive pauses; expected a higher floor",
        )
    else:
        report.passed(
            "capacity",
            f"disk guard floor {floor / GIB:.1f} GiB above the eviction threshold "
            f"{eviction / GIB:.1f} GiB",
        )
    free = float(node.get("free_gib", 0)) * GIB
    if free and total + floor > free:
        report.failed(
            "capacity",
            f"claims {total / GIB:.1f} GiB + disk guard floor {floor / GIB:.1f} GiB exceed the "
            f"node's {free / GIB:.0f} GiB free; expected them to fit",
        )
    elif free:
        report.passed(
            "capacity",
            f"claims {total / GIB:.1f} GiB + floor {floor / GIB:.1f} GiB fit the node's "
            f"{free / GIB:.0f} GiB free",
        )
