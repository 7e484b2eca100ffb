"""``observer verify manifests`` on our overlays, on broken variants and on a foreign tree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from observer.cli.verify_cmd import verify_group
from observer.ops.verify.manifests import verify_manifests
from observer.ops.verify.report import Report

REPO = Path(__file__).resolve().parents[2]
CONTAINER = "/spec/template/spec/containers/0"
DATA = "/opt/platform/runtime/observer/data"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/ (with the local env files) where broken overlays can be added."""
    root = tmp_path_factory.mktemp("verify") / "deploy"
    shutil.copytree(REPO / "deploy", root, ignore=shutil.ignore_patterns("*.env"))
    for example in (root / "overlays" / "local").glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    return root


def overlay(
    tree: Path, name: str, patches: list[dict[str, Any]], extra: tuple[Any, ...] | list[Any] = ()
) -> Path:
    """A production-like overlay with JSON patches and extra resources."""
    folder = tree / "overlays" / name
    folder.mkdir()
    resources = ["../staging"]
    for index, doc in enumerate(extra):
        (folder / f"extra{index}.yaml").write_text(yaml.safe_dump(doc))
        resources.append(f"extra{index}.yaml")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "observer-test",
        "resources": resources,
        "patches": [{"target": p["target"], "patch": yaml.safe_dump(p["ops"])} for p in patches],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


def deployment_patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"target": {"kind": "Deployment", "name": "observer"}, "ops": list(ops)}


def failures(report: Report) -> list[str]:
    """FAIL lines, the generated ConfigMap's content hash left out."""
    return [
        re.sub(r"observer-config-[a-z0-9]{10}", "observer-config", f"{r.check} {r.detail}")
        for r in report.failures()
    ]


@pytest.mark.parametrize("name", ["production", "staging", "local"])
def test_our_overlays_pass(tree: Path, name: str) -> None:
    report = verify_manifests(tree / "overlays" / name, allow_placeholders=True)
    assert failures(report) == []
    checks = {r.check for r in report.results}
    assert {"env", "persistence", "pvc", "secrets", "security", "probes", "rollout", "image",
            "network", "shutdown", "configmap", "binding", "capacity", "placeholder",
            "volumes"} <= checks  # fmt: skip
    assert report.count("PASS") >= 40


def test_base_passes_with_secrets_as_documented_prerequisites(tree: Path) -> None:
    report = verify_manifests(tree / "base")
    assert failures(report) == []
    assert any("documented prerequisite" in r.detail for r in report.results)


def test_hostpath_data_volume(tree: Path) -> None:
    folder = overlay(
        tree,
        "hostpath",
        [deployment_patch({"op": "replace", "path": "/spec/template/spec/volumes/0",
                           "value": {"name": "data", "hostPath": {"path": "/srv/observer"}}})],
    )  # fmt: skip
    found = failures(verify_manifests(folder))
    where = "Deployment/observer container observer"
    assert found == [
        f"persistence {where}: OBSERVER_DATA_DIR={DATA}: volume data at {DATA} is hostPath; "
        "expected persistentVolumeClaim (the data would vanish with the pod)",
        f"persistence {where}: KIS_TOKEN_CACHE_DIR={DATA}/cache: volume data at {DATA} is "
        "hostPath; expected persistentVolumeClaim (the data would vanish with the pod)",
        f"volumes Deployment/observer container observer volumeMount data at {DATA} is the "
        "node's /srv/observer mounted writable; expected readOnly: true (or a "
        "persistentVolumeClaim)",
        "binding PersistentVolumeClaim/observer-data-pvc (wave 2, the default class (local-path "
        "on K3s: WaitForFirstConsumer)) is used only by CronJob/observer-backup: it stays "
        "Pending until the first scheduled run and Argo CD waits for it; expected a consumer "
        "that starts at sync, or no claim of its own",
    ]


def test_configmap_missing_path_variables(tree: Path) -> None:
    folder = overlay(
        tree,
        "missing-paths",
        [{"target": {"kind": "ConfigMap", "name": "observer-config"},
          "ops": [{"op": "remove", "path": "/data/OBSERVER_SNAPSHOT_DIR"},
                  {"op": "remove", "path": "/data/KIS_TOKEN_CACHE_DIR"}]}],
    )  # fmt: skip
    found = failures(verify_manifests(folder))
    assert len(found) == 6
    for workload, container in (
        ("Deployment/observer", "observer"),
        ("CronJob/observer-backup", "backup"),
        ("Job/observer-migrate", "migrate"),
    ):
        for alias, expected in (
            ("OBSERVER_SNAPSHOT_DIR", "/opt/platform/runtime/observer/universe"),
            ("KIS_TOKEN_CACHE_DIR", f"{DATA}/cache"),
        ):
            line = (
                f"env {workload} container {container}: {alias} is not set (env and envFrom: "
                f"ConfigMap observer-config); expected {expected} (Kubernetes mode stops "
                "start-up without it)"
            )
            assert line in found


def test_secret_referenced_but_never_produced(tree: Path) -> None:
    folder = overlay(
        tree,
        "unproduced-secret",
        [deployment_patch({"op": "add", "path": "/spec/template/spec/containers/0/envFrom/-",
                           "value": {"secretRef": {"name": "obs-kis-secret-v2"}}})],
    )  # fmt: skip
    assert failures(verify_manifests(folder)) == [
        "secrets Deployment/observer container observer envFrom secretRef obs-kis-secret-v2: no "
        "Secret or SealedSecret in the manifests produces obs-kis-secret-v2 and "
        "PREREQUISITES.md does not list it; expected one of the two"
    ]


def test_secret_key_the_sealed_secret_does_not_have(tree: Path) -> None:
    folder = overlay(
        tree,
        "wrong-key",
        [{"target": {"kind": "StatefulSet", "name": "postgres"},
          "ops": [{"op": "replace",
                   "path": f"{CONTAINER}/env/2/valueFrom/secretKeyRef/key",
                   "value": "PG_PASSWORD"}]}],
    )  # fmt: skip
    (line,) = failures(verify_manifests(folder))
    assert line.startswith(
        "secrets StatefulSet/postgres container postgres env POSTGRES_PASSWORD secretKeyRef "
        "obs-db-secret: SealedSecret/obs-db-secret has no key PG_PASSWORD"
    )


def test_two_replicas_rolling_update_on_rwo(tree: Path) -> None:
    folder = overlay(
        tree,
        "two-replicas",
        [deployment_patch({"op": "replace", "path": "/spec/replicas", "value": 2},
                          {"op": "replace", "path": "/spec/strategy",
                           "value": {"type": "RollingUpdate"}})],
    )  # fmt: skip
    claims = "observer-data-pvc, observer-logs-pvc, observer-universe-pvc"
    assert failures(verify_manifests(folder)) == [
        f"rollout Deployment/observer spec.replicas is 2 with ReadWriteOnce claim {claims}; "
        "expected 1",
        f"rollout Deployment/observer spec.strategy.type is RollingUpdate with ReadWriteOnce "
        f"claim {claims}: old and new pod would run together; expected Recreate",
    ]


def test_pvc_declared_but_not_mounted(tree: Path) -> None:
    orphan = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "observer-archive-old"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}},
    }
    folder = overlay(tree, "orphan-pvc", [], [orphan])
    assert failures(verify_manifests(folder)) == [
        "pvc PersistentVolumeClaim/observer-archive-old (50Gi, ReadWriteOnce) is declared but no "
        "workload mounts it; expected a volume referencing it (or remove it)"
    ]


def test_writable_root_filesystem(tree: Path) -> None:
    folder = overlay(
        tree,
        "writable-root",
        [deployment_patch({"op": "replace",
                           "path": f"{CONTAINER}/securityContext/readOnlyRootFilesystem",
                           "value": False})],
    )  # fmt: skip
    assert failures(verify_manifests(folder)) == [
        "security Deployment/observer container observer "
        "securityContext.readOnlyRootFilesystem is False; expected true"
    ]


def test_latest_image_and_missing_probe_and_open_egress(tree: Path) -> None:
    folder = overlay(
        tree,
        "loose",
        [deployment_patch({"op": "replace", "path": "/spec/template/spec/containers/0/image",
                           "value": "registry.example.internal/observer:latest"},
                          {"op": "remove", "path": f"{CONTAINER}/readinessProbe"}),
         {"target": {"kind": "NetworkPolicy", "name": "observer"},
          "ops": [{"op": "remove", "path": "/spec/egress/2"}]}],
    )  # fmt: skip
    found = failures(verify_manifests(folder))
    assert (
        "image Deployment/observer container observer image "
        "registry.example.internal/observer:latest uses tag latest; expected a pinned version tag"
    ) in found
    assert (
        "probes Deployment/observer container observer readinessProbe is missing; "
        "expected httpGet /ready"
    ) in found
    egress = [f for f in found if f.startswith("network")]
    assert [f.split("egress to ")[1].split(" not")[0] for f in egress] == [
        "TCP 29443",
        "TCP 31000",
        "TCP 443",
    ]  # fmt: skip (staging is paper: the real-account ports are not required)
    assert len(found) == 5


FOREIGN: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "collector-env"},
     "data": {"OBSERVER_DEPLOYMENT": "kubernetes", "OBSERVER_SOURCE": "kis",
              "OBSERVER_DATA_DIR": "/srv/collector/archive",
              "OBSERVER_LOG_DIR": "/srv/collector/logs",
              "OBSERVER_SYSTEM_LOG_DIR": "/srv/collector/logs/sys",
              "OBSERVER_MAINTENANCE_LOG_DIR": "/srv/collector/logs/maint",
              "OBSERVER_CONFIG_DIR": "/etc/collector",
              "OBSERVER_SNAPSHOT_DIR": "/srv/collector/universe",
              "KIS_TOKEN_CACHE_DIR": "/srv/collector/archive/tokens",
              "SERVICE_PORT": "9100"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "collector-keys"},
     "stringData": {"KIS_APP_KEY": "fake-app-key", "KIS_APP_SECRET": "fake-app-secret"}},
    *[{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "3Gi"}}}}
      for name in ("collector-archive", "collector-logs", "collector-universe")],
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "collector-egress"},
     "spec": {"podSelector": {"matchExpressions": [
                  {"key": "tier", "operator": "In", "values": ["collect"]}]},
              "policyTypes": ["Egress"],
              "egress": [{"to": [{"namespaceSelector": {}}],
                          "ports": [{"protocol": "UDP", "port": 53},
                                    {"protocol": "TCP", "port": 5432}]},
                         {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
                              "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}],
                          "ports": [{"protocol": "TCP", "port": 443},
                                    {"protocol": "TCP", "port": 9443},
                                    {"protocol": "TCP", "port": 21000},
                                    {"protocol": "TCP", "port": 31000},
                                    {"protocol": "TCP", "port": 29443}]}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "market-collector"},
     "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
              "selector": {"matchLabels": {"tier": "collect"}},
              "template": {"metadata": {"labels": {"tier": "collect"}}, "spec": {
                  "automountServiceAccountToken": False,
                  "securityContext": {"runAsNonRoot": True, "runAsUser": 2000, "fsGroup": 2000,
                                      "seccompProfile": {"type": "RuntimeDefault"}},
                  "containers": [{
                      "name": "collector", "image": "example.org/tools/collector:7.1",
                      "envFrom": [{"configMapRef": {"name": "collector-env"}},
                                  {"secretRef": {"name": "collector-keys"}}],
                      "ports": [{"name": "web", "containerPort": 9100}],
                      "livenessProbe": {"httpGet": {"path": "/health", "port": "web"}},
                      "readinessProbe": {"httpGet": {"path": "/ready", "port": 9100}},
                      "securityContext": {"readOnlyRootFilesystem": True,
                                          "allowPrivilegeEscalation": False,
                                          "capabilities": {"drop": ["ALL"]}},
                      "volumeMounts": [
                          {"name": "archive", "mountPath": "/srv/collector/archive"},
                          {"name": "logs", "mountPath": "/srv/collector/logs"},
                          {"name": "universe", "mountPath": "/srv/collector/universe"},
                          {"name": "settings", "mountPath": "/etc/collector", "readOnly": True}]}],
                  "volumes": [
                      {"name": n, "persistentVolumeClaim": {"claimName": f"collector-{n}"}}
                      for n in ("archive", "logs", "universe")] + [
                      {"name": "settings", "configMap": {"name": "collector-env"}}]}}}},
]  # fmt: skip


def write_foreign(folder: Path, docs: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True)
    (folder / ".git").mkdir()  # its own repository: our PREREQUISITES.md is not found
    (folder / "all.yaml").write_text(yaml.safe_dump_all(docs))
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: markets\nresources: [all.yaml]\n"
    )
    return folder


def test_foreign_tree_with_other_names_passes(tmp_path: Path) -> None:
    report = verify_manifests(write_foreign(tmp_path / "foreign", FOREIGN))
    assert failures(report) == []
    details = " ".join(r.detail for r in report.results)
    assert "OBSERVER_DATA_DIR=/srv/collector/archive on claim collector-archive" in details
    assert "NetworkPolicy collector-egress limits egress to DNS" in details


def test_foreign_tree_with_a_path_outside_its_volume(tmp_path: Path) -> None:
    docs = yaml.safe_load(yaml.safe_dump(FOREIGN))
    docs[0]["data"]["OBSERVER_SNAPSHOT_DIR"] = "/var/lib/universe"
    docs[-1]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = {}
    assert failures(verify_manifests(write_foreign(tmp_path / "foreign", docs))) == [
        "persistence Deployment/market-collector container collector: "
        "OBSERVER_SNAPSHOT_DIR=/var/lib/universe is on the container filesystem (no volumeMount "
        "at or above it); expected a persistentVolumeClaim mounted there",
        "security Deployment/market-collector container collector "
        "securityContext.capabilities.drop lacks ALL; expected [ALL]",
    ]


def test_cli_prints_lines_summary_and_exit_codes(tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    production = str(tree / "overlays" / "production")
    # As committed, production holds placeholders: each is a FAIL until replaced.
    placeholders = runner.invoke(verify_group, ["manifests", production])
    assert placeholders.exit_code == 1
    failed = [line for line in placeholders.output.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 15 and all(line.startswith("FAIL placeholder ") for line in failed)
    assert sum("registry.example.internal" in line for line in failed) == 3  # three workloads
    good = runner.invoke(verify_group, ["manifests", "--allow-placeholders", production])
    assert good.exit_code == 0, good.output
    lines = good.output.strip().splitlines()
    assert all(line.split(" ", 1)[0] in ("PASS", "SKIP") for line in lines[:-1])
    assert lines[-1].endswith("0 failed, 15 skipped") and ": OK - " in lines[-1]

    orphan = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "spare"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    folder = overlay(tree, "cli-orphan", [], [orphan])
    bad = runner.invoke(verify_group, ["manifests", "--json", str(folder)])
    assert bad.exit_code == 1
    body = orjson.loads(bad.output)
    assert body["ok"] is False and body["failed"] == 1
    assert {"status": "FAIL", "check": "pvc"}.items() <= next(
        c for c in body["checks"] if c["status"] == "FAIL"
    ).items()

    empty = tmp_path / "empty"
    empty.mkdir()
    cannot = runner.invoke(verify_group, ["manifests", str(empty)])
    assert cannot.exit_code == 2
    assert "no kustomization.yaml" in cannot.output


def test_the_observer_command_runs_verify(tree: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "observer", "verify", "manifests", str(tree / "overlays" / "local")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("verify manifests ")
    assert " OK - " in done.stdout.splitlines()[-1]


def test_values_the_service_would_reject(tree: Path) -> None:
    folder = overlay(
        tree,
        "bad-values",
        [{"target": {"kind": "ConfigMap", "name": "observer-config"},
          "ops": [{"op": "replace", "path": "/data/LOG_FORMAT", "value": "yaml"},
                  {"op": "add", "path": "/data/OBSERVER_SWING_INTERVAL", "value": "300"},
                  {"op": "add", "path": "/data/KIS_APP_SECRET", "value": "fake-app-secret"}]}],
    )  # fmt: skip
    found = failures(verify_manifests(folder))
    assert found.pop() == (
        "configmap ConfigMap/observer-config data.KIS_APP_SECRET is a secret in plain text; "
        "expected it in a Secret"
    )
    assert len(found) == 6  # the service, the backup CronJob and the migration Job
    found = [f for f in found if "Deployment/observer" in f]
    where = "env Deployment/observer container observer"
    assert found == [
        f"{where}: OBSERVER_SWING_INTERVAL (ConfigMap observer-config) is not a setting; "
        "start-up would stop",
        f"{where}: LOG_FORMAT: Input should be 'json' or 'text' (got 'yaml'); start-up would stop",
    ]
