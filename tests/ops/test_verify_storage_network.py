"""The checks added for a single-node K3s: each with a broken variant it must flag and a
correct one it must pass (sync waves, capacity, placeholders, egress peers, mounts, tags)."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from observer.ops.verify.inventory import Inventory
from observer.ops.verify.manifests import verify_manifests
from observer.ops.verify.network import check_network
from observer.ops.verify.placeholders import check_placeholders
from observer.ops.verify.report import Report
from observer.ops.verify.storage import (
    check_binding_waves,
    check_capacity,
    load_capacity,
    parse_quantity,
)
from tests.ops.test_verify_manifests import REPO, deployment_patch, failures, overlay

WAVE = "argocd.argoproj.io/sync-wave"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("checks") / "deploy"
    shutil.copytree(REPO / "deploy", root, ignore=shutil.ignore_patterns("*.env"))
    return root


def lines(report: Report, check: str) -> list[str]:
    return [f"{r.status} {r.detail}" for r in report.results if r.check == check]


# -- sync waves -------------------------------------------------------------------------------
def _claim(name: str, wave: int | None = None, cls: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if wave is not None:
        meta["annotations"] = {WAVE: str(wave)}
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"]}
    if cls:
        spec["storageClassName"] = cls
    return {"kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def _user(kind: str, claim: str, wave: int = 0) -> dict[str, Any]:
    pod = {"spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]}}
    spec = {"jobTemplate": {"spec": {"template": pod}}} if kind == "CronJob" else {"template": pod}
    return {"kind": kind, "metadata": {"name": "x", "annotations": {WAVE: str(wave)}}, "spec": spec}


def test_a_late_binding_claim_before_its_consumer_deadlocks_the_sync() -> None:
    report = Report("t")
    check_binding_waves(
        Inventory.build([_claim("data", 0), _user("Deployment", "data", 2)]), report
    )
    (line,) = lines(report, "binding")
    assert line.startswith("FAIL PersistentVolumeClaim/data (wave 0, the default class")
    assert "expected wave >= 2" in line


def test_a_claim_in_its_consumers_wave_binds() -> None:
    report = Report("t")
    check_binding_waves(
        Inventory.build([_claim("data", 2), _user("Deployment", "data", 2)]), report
    )
    assert lines(report, "binding") == [
        "PASS PersistentVolumeClaim/data (wave 2, the default class (local-path on K3s: "
        "WaitForFirstConsumer)) binds with Deployment/x (wave 2)"
    ]


def test_a_claim_only_a_cronjob_uses_never_binds_at_sync() -> None:
    report = Report("t")
    check_binding_waves(Inventory.build([_claim("dumps"), _user("CronJob", "dumps")]), report)
    (line,) = lines(report, "binding")
    assert line.startswith("FAIL PersistentVolumeClaim/dumps") and "stays Pending" in line


def test_an_immediate_class_may_bind_before_its_consumer() -> None:
    immediate = {
        "kind": "StorageClass",
        "metadata": {"name": "fast"},
        "volumeBindingMode": "Immediate",
    }
    docs = [immediate, _claim("data", 0, "fast"), _user("Deployment", "data", 2)]
    report = Report("t")
    check_binding_waves(Inventory.build(docs), report)
    assert lines(report, "binding") == []
    docs[0] = {**immediate, "volumeBindingMode": "WaitForFirstConsumer"}
    check_binding_waves(Inventory.build(docs), report)
    assert lines(report, "binding")[0].startswith("FAIL")


def test_the_committed_claims_sat_in_wave_zero_before_the_fix(tree: Path) -> None:
    patch = {
        "target": {"kind": "PersistentVolumeClaim", "name": "observer-data-pvc"},
        "ops": [{"op": "replace", "path": f"/metadata/annotations/{WAVE.replace('/', '~1')}",
                 "value": "0"}],
    }  # fmt: skip
    found = failures(verify_manifests(overlay(tree, "wave-zero", [patch])))
    assert len(found) == 1 and found[0].startswith(
        "binding PersistentVolumeClaim/observer-data-pvc"
    )


# -- capacity ---------------------------------------------------------------------------------
def test_quantities() -> None:
    assert parse_quantity("20Gi") == 20 * 1024**3
    assert parse_quantity("500M") == 500 * 10**6
    assert parse_quantity("1.5Ti") == int(1.5 * 1024**4)
    assert parse_quantity("lots") is None


def _sized(tree: Path, name: str, data: str, archive_days: int, floor_mb: int = 7680) -> Path:
    folder = overlay(
        tree,
        name,
        [{"target": {"kind": "PersistentVolumeClaim", "name": "observer-data-pvc"},
          "ops": [{"op": "replace", "path": "/spec/resources/requests/storage", "value": data}]}],
    )  # fmt: skip
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    kustomization["configMapGenerator"] = [
        {"name": "observer-config", "behavior": "merge", "literals": [
            f"OBSERVER_RETENTION_ARCHIVE_DAYS={archive_days}",
            f"OBSERVER_DISK_MIN_FREE_MB={floor_mb}"]}
    ]  # fmt: skip
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


def test_a_claim_that_fills_before_its_retention_horizon_fails(tree: Path) -> None:
    report = verify_manifests(_sized(tree, "too-long", "8Gi", 365), allow_placeholders=True)
    found = [f for f in failures(report) if f.startswith("capacity")]
    assert len(found) == 1
    assert found[0].startswith("capacity PersistentVolumeClaim/observer-data-pvc 8.0 GiB (archive)")
    assert "366-day retention horizon" in found[0] and "expected the claim to outlast" in found[0]


def test_the_same_claim_with_a_retention_it_holds_passes(tree: Path) -> None:
    report = verify_manifests(_sized(tree, "fits", "8Gi", 7), allow_placeholders=True)
    assert failures(report) == []
    assert any(
        line.startswith("PASS PersistentVolumeClaim/observer-data-pvc 8.0 GiB")
        for line in lines(report, "capacity")
    )


def test_a_disk_floor_below_the_eviction_threshold_fails(tree: Path) -> None:
    report = verify_manifests(_sized(tree, "low-floor", "8Gi", 7, 256), allow_placeholders=True)
    assert failures(report) == [
        "capacity OBSERVER_DISK_MIN_FREE_MB 256 is at or below the kubelet's eviction threshold "
        "(6554 MiB free of a 64 GiB node): the node would evict the pod before the archive "
        "pauses; expected a higher floor"
    ]


def test_claims_larger_than_the_node_fail(tree: Path) -> None:
    report = verify_manifests(_sized(tree, "huge", "40Gi", 7), allow_placeholders=True)
    (found,) = failures(report)
    assert found.startswith("capacity claims 50.0 GiB + disk guard floor 7.5 GiB exceed")


def test_without_measured_rates_capacity_is_skipped() -> None:
    report = Report("t")
    check_capacity(Inventory.build([]), report, None)
    assert lines(report, "capacity")[0].startswith("SKIP no capacity.yaml")
    assert load_capacity(REPO / "deploy" / "capacity.yaml") is not None


# -- placeholders -----------------------------------------------------------------------------
def _sealed(namespace: str, value: str) -> dict[str, Any]:
    return {
        "kind": "SealedSecret",
        "metadata": {"name": "s", "namespace": namespace},
        "spec": {"encryptedData": {"KEY": value}, "template": {"metadata": {"name": "s"}}},
    }


def test_placeholders_fail_in_production_only_unless_allowed() -> None:
    placeholder = "PLACEHOLDER-NOT-A-REAL-CIPHERTEXT-seal-with-kubeseal"
    report = Report("t")
    check_placeholders(
        Inventory.build([_sealed("observer-prod", placeholder)]), report, allowed=False
    )
    assert [r.status for r in report.results] == ["FAIL"]
    report = Report("t")
    check_placeholders(
        Inventory.build([_sealed("observer-prod", placeholder)]), report, allowed=True
    )
    assert [r.status for r in report.results] == ["SKIP"]
    report = Report("t")
    check_placeholders(
        Inventory.build([_sealed("observer-staging", placeholder)]), report, allowed=False
    )
    assert [r.status for r in report.results] == ["SKIP"]


def test_real_looking_values_pass() -> None:
    ciphertext = base64.b64encode(os.urandom(300)).decode()
    app = {
        "kind": "Application",
        "metadata": {"name": "observer-prod", "namespace": "argocd"},
        "spec": {"source": {"repoURL": "https://git.acme.kr/markets/observer.git"},
                 "destination": {"namespace": "observer-prod"}},
    }  # fmt: skip
    report = Report("t")
    check_placeholders(
        Inventory.build([_sealed("observer-prod", ciphertext), app]), report, allowed=False
    )
    assert [r.status for r in report.results] == ["PASS"]
    app["spec"]["source"]["repoURL"] = "https://git.example.internal/observer/observer.git"
    report = Report("t")
    check_placeholders(Inventory.build([app]), report, allowed=False)
    assert [r.status for r in report.results] == ["FAIL"]


# -- egress -----------------------------------------------------------------------------------
ENV = {
    "kind": "ConfigMap",
    "metadata": {"name": "env", "namespace": "n"},
    "data": {"OBSERVER_SOURCE": "kis", "KIS_ENV": "real", "DB_PORT": "5432"},
}
DNS = {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
       "ports": [{"protocol": "UDP", "port": 53}]}  # fmt: skip
DB = {"to": [{"podSelector": {"matchLabels": {"app": "postgres"}}}],
      "ports": [{"protocol": "TCP", "port": 5432}]}  # fmt: skip
PUBLIC = {"ipBlock": {"cidr": "0.0.0.0/0",
                      "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}  # fmt: skip
REAL = [{"protocol": "TCP", "port": p} for p in (9443, 21000, 443)]


def _network(egress: list[dict[str, Any]], types: list[str] | None = None) -> Report:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {"app": "observer"}}, "egress": egress}
    if types is not None:
        spec["policyTypes"] = types
    policy = {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "n"}, "spec": spec}
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "env"}}]}
    pod = {"metadata": {"labels": {"app": "observer"}}, "spec": {"containers": [container]}}
    deployment = {"kind": "Deployment", "metadata": {"name": "o", "namespace": "n"},
                  "spec": {"template": pod}}  # fmt: skip
    inventory = Inventory.build([ENV, policy, deployment])
    report = Report("t")
    check_network(inventory.workloads[0], inventory, report)
    return report


def test_real_account_egress_limited_by_peers_passes_with_default_policy_types() -> None:
    report = _network([DNS, DB, {"to": [PUBLIC], "ports": REAL}])  # no policyTypes: defaulted
    assert [r.status for r in report.results] == ["PASS"]
    assert "KIS real ports 9443, 21000, 443" in report.results[0].detail  # no paper ports


def test_a_rule_without_peers_reaches_the_whole_cluster() -> None:
    report = _network([DNS, DB, {"ports": REAL}], ["Egress"])
    (line,) = [r.detail for r in report.failures()]
    assert "egress rule 2 (TCP 443, TCP 9443, TCP 21000) has no to:" in line


def test_an_ipblock_that_covers_the_private_ranges_is_open() -> None:
    report = _network([DNS, DB, {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": REAL}])
    (line,) = [r.detail for r in report.failures()]
    assert "ipBlock covering the cluster's private ranges" in line


def test_ports_observer_does_not_use_and_missing_ones_fail() -> None:
    report = _network([DNS, DB, {"to": [PUBLIC], "ports": [{"protocol": "TCP", "port": 22}]}])
    found = [r.detail for r in report.failures()]
    assert any("admits port(s) 22 Observer does not use" in f for f in found)
    assert sum("not allowed by NetworkPolicy" in f for f in found) == 3


def test_ingress_only_policy_does_not_restrict_egress() -> None:
    report = _network([], ["Ingress"])
    assert report.failures()[0].detail.startswith("Deployment/o: no NetworkPolicy restricts")


# -- mounts and images ------------------------------------------------------------------------
def test_a_mount_naming_no_volume_and_a_writable_hostpath(tree: Path) -> None:
    broken = overlay(
        tree,
        "mounts",
        [deployment_patch(
            {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
             "value": {"name": "ghost", "mountPath": "/var/ghost"}},
            {"op": "add", "path": "/spec/template/spec/volumes/-",
             "value": {"name": "node-logs", "hostPath": {"path": "/var/log"}}},
            {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
             "value": {"name": "node-logs", "mountPath": "/var/node-logs"}})],
    )  # fmt: skip
    found = [f for f in failures(verify_manifests(broken)) if f.startswith("volumes")]
    where = "volumes Deployment/observer container observer volumeMount"
    assert found == [
        f"{where} ghost at /var/ghost names no volume of the pod; expected one in spec.volumes",
        f"{where} node-logs at /var/node-logs is the node's /var/log mounted writable; expected "
        "readOnly: true (or a persistentVolumeClaim)",
    ]
    fixed = overlay(
        tree,
        "mounts-ro",
        [deployment_patch(
            {"op": "add", "path": "/spec/template/spec/volumes/-",
             "value": {"name": "node-logs", "hostPath": {"path": "/var/log"}}},
            {"op": "add", "path": "/spec/template/spec/containers/0/volumeMounts/-",
             "value": {"name": "node-logs", "mountPath": "/var/node-logs", "readOnly": True}})],
    )  # fmt: skip
    assert [f for f in failures(verify_manifests(fixed)) if f.startswith("volumes")] == []


@pytest.mark.parametrize(
    ("image", "floating"),
    [("postgres:15-alpine", True), ("postgres:15", True), ("postgres:alpine", True),
     ("postgres:15.10", False), ("postgres:15.10-alpine", False),
     ("postgres@sha256:" + "a" * 64, False)],
)  # fmt: skip
def test_floating_image_tags(tree: Path, image: str, floating: bool) -> None:
    name = "tag-" + image.replace(":", "-").replace("@", "-").replace(".", "-")[:30]
    folder = overlay(
        tree,
        name,
        [{"target": {"kind": "StatefulSet", "name": "postgres"},
          "ops": [{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                   "value": image}]}],
    )  # fmt: skip
    found = [f for f in failures(verify_manifests(folder)) if f.startswith("image")]
    assert bool(found) == floating, found
    if floating:
        assert "floating tag" in found[0] or "has no tag" in found[0]


def test_a_rates_file_without_the_rates_is_skipped_not_a_crash() -> None:
    report = Report("t")
    check_capacity(Inventory.build([]), report, {"rates": {"db_bytes_per_day": 1}})
    (line,) = lines(report, "capacity")
    assert line.startswith("SKIP capacity.yaml lacks the rates archive_plain_bytes_peak")
