"""The deployment contract of DEPLOYMENT.md, checked on the rendered manifests."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from observer.config.paths import K8S_PATHS
from observer.config.settings import (
    ALIASES,
    REQUIRED_IN_K8S,
    SECRET_VARS,
    load_settings,
)
from observer.ops.verify.hardening import HEALTH_PATH, KNOWN_ENDPOINTS, READY_PATH
from observer.ops.verify.manifests import prerequisite_secrets
from tests.deploy.conftest import DEPLOY, OVERLAYS, REPO, find, kinds, kustomize

Doc = dict[str, Any]
EXTRA_CONFIG_KEYS = {"PYTHONUNBUFFERED"}  # in the ConfigMap but not a setting
CONFIG_REQUIRED = {
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    "SERVICE_PORT": "8000",
    "DB_HOST": "postgres",
    "DB_PORT": "5432",
    "DB_NAME": "observer",
    "OBSERVER_STANDALONE": "1",
    "PYTHONUNBUFFERED": "1",
    "OBSERVER_DEPLOYMENT": "kubernetes",
    "OBSERVER_HTTP_HOST": "0.0.0.0",
    **K8S_PATHS,
}


def observer_container(docs: list[Doc]) -> Doc:
    pod = find(docs, "Deployment", "observer")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "observer")


def generated(docs: list[Doc], kind: str, name: str) -> Doc:
    """A generated resource: its name carries a content hash (a change rolls the pod)."""
    found = [
        d
        for d in kinds(docs, kind)
        if re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", d["metadata"]["name"])
    ]
    assert len(found) == 1, f"{kind}/{name}-<hash> not rendered exactly once"
    return found[0]


def config(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = generated(docs, "ConfigMap", "observer-config")["data"]
    return data


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configmap_has_every_contract_key(overlay: str, rendered: dict[str, Any]) -> None:
    data = config(rendered[overlay][0])
    for key, value in CONFIG_REQUIRED.items():
        assert data.get(key) == value, f"{overlay}: {key}={data.get(key)!r}, expected {value!r}"
    for key in data:
        assert key in ALIASES or key in EXTRA_CONFIG_KEYS, f"{key} is not a setting"
        assert key not in SECRET_VARS and key != "DB_USER", f"{key} belongs in a Secret"
    assert data["OBSERVER_SOURCE"] == ("sim" if overlay == "local" else "kis")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_load_from_the_configmap_in_kubernetes_mode(
    overlay: str, rendered: dict[str, Any]
) -> None:
    environ = {
        **config(rendered[overlay][0]),
        "KUBERNETES_SERVICE_HOST": "10.43.0.1",
        "DB_USER": "observer",
        "DB_PASSWORD": "fake-db-password",
        "KIS_APP_KEY": "fake-app-key",
        "KIS_APP_SECRET": "fake-app-secret",
    }
    settings = load_settings(environ).settings
    assert settings.in_kubernetes
    for alias, expected in K8S_PATHS.items():
        field = ALIASES[alias]
        assert str(getattr(settings, field)) == expected, alias
    assert settings.http_host == "0.0.0.0" and settings.service_port == 8000
    assert all(alias in environ for alias in REQUIRED_IN_K8S)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_paths_are_the_mounts(overlay: str, rendered: dict[str, Any]) -> None:
    docs = rendered[overlay][0]
    container = observer_container(docs)
    volumes = {
        v["name"]: v
        for v in find(docs, "Deployment", "observer")["spec"]["template"]["spec"]["volumes"]
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    data = config(docs)
    expected_claims = {
        "OBSERVER_DATA_DIR": "observer-data-pvc",
        "OBSERVER_LOG_DIR": "observer-logs-pvc",
        "OBSERVER_SNAPSHOT_DIR": "observer-universe-pvc",
    }
    for alias, claim in expected_claims.items():
        mount = mounts[data[alias]]
        assert data[alias] == K8S_PATHS[alias]
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == claim
        assert not mount.get("readOnly")
    config_mount = mounts[data["OBSERVER_CONFIG_DIR"]]
    assert config_mount["readOnly"] is True
    assert "configMap" in volumes[config_mount["name"]]
    for alias, parent in (
        ("OBSERVER_SYSTEM_LOG_DIR", "OBSERVER_LOG_DIR"),
        ("OBSERVER_MAINTENANCE_LOG_DIR", "OBSERVER_LOG_DIR"),
        ("KIS_TOKEN_CACHE_DIR", "OBSERVER_DATA_DIR"),
    ):
        assert PurePosixPath(data[parent]) in PurePosixPath(data[alias]).parents
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert not any("hostPath" in v for d in docs for v in _pod_volumes(d))


def _pod_volumes(doc: Doc) -> list[Doc]:
    spec = doc.get("spec", {})
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    return (template or {}).get("spec", {}).get("volumes", [])


def test_pvc_names_and_sizes(rendered: dict[str, Any]) -> None:
    docs = rendered["production"][0]
    sizes = {
        p["metadata"]["name"]: p["spec"]["resources"]["requests"]["storage"]
        for p in kinds(docs, "PersistentVolumeClaim")
    }
    assert sizes == {  # docs/capacity.md; verify manifests checks them against retention
        "observer-data-pvc": "11Gi",
        "observer-logs-pvc": "1Gi",
        "observer-universe-pvc": "1Gi",
        "observer-db-pvc": "20Gi",
    }
    (storage_class,) = kinds(docs, "StorageClass")
    assert storage_class["reclaimPolicy"] == "Retain"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    for pvc in kinds(docs, "PersistentVolumeClaim"):
        assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert pvc["spec"]["storageClassName"] == storage_class["metadata"]["name"]
        assert "Prune=false" in pvc["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
    for pvc in kinds(rendered["staging"][0], "PersistentVolumeClaim"):
        assert "storageClassName" not in pvc["spec"]  # the default class: staging is disposable


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_replica_recreate_and_pod_basics(overlay: str, rendered: dict[str, Any]) -> None:
    docs = rendered[overlay][0]
    deployment = find(docs, "Deployment", "observer")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["fsGroup"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = observer_container(docs)
    sc = container["securityContext"]
    assert (sc["runAsUser"], sc["runAsGroup"], sc["runAsNonRoot"]) == (1000, 1000, True)
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    env = {e["name"]: e for e in container["env"]}
    assert env["TZ"]["value"] == "Asia/Seoul"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    refs = [next(iter(s.values()))["name"] for s in container["envFrom"]]
    assert refs == [
        generated(docs, "ConfigMap", "observer-config")["metadata"]["name"],
        "obs-db-secret",
        "obs-kis-secret",
    ]
    assert set(container["resources"]) == {"requests", "limits"}


def test_probes_point_at_real_endpoints(rendered: dict[str, Any]) -> None:
    container = observer_container(rendered["production"][0])
    assert container["startupProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "http"}
    server = (REPO / "src/observer/api/server.py").read_text()
    routed = set(re.findall(r'add_get\("(/[a-z]+)"', server))
    assert KNOWN_ENDPOINTS <= routed, f"the API routes {routed}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlay: str, rendered: dict[str, Any]) -> None:
    docs = rendered[overlay][0]
    images = [c["image"] for d in docs for c in _containers(d)]
    assert images
    for image in images:
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", image
    assert observer_container(docs)["image"].endswith(":0.1.0")


def _containers(doc: Doc) -> list[Doc]:
    spec = doc.get("spec", {})
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    pod = (template or {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def test_every_referenced_secret_is_produced_or_a_prerequisite(rendered: dict[str, Any]) -> None:
    prerequisites = prerequisite_secrets(DEPLOY / "PREREQUISITES.md")
    assert {"obs-db-secret", "obs-kis-secret", "obs-backup-secret"} <= prerequisites
    for overlay in OVERLAYS:
        docs = rendered[overlay][0]
        produced = {s["metadata"]["name"] for s in kinds(docs, "Secret")} | {
            s["spec"]["template"]["metadata"]["name"] for s in kinds(docs, "SealedSecret")
        }
        assert produced == {"obs-db-secret", "obs-kis-secret", "obs-backup-secret"}, overlay
        for doc in docs:
            for container in _containers(doc):
                for source in container.get("envFrom", []):
                    if "secretRef" in source:
                        assert source["secretRef"]["name"] in produced
                for item in container.get("env", []):
                    ref = item.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] in produced, (overlay, item)


def test_sealed_secrets_hold_only_placeholders(rendered: dict[str, Any]) -> None:
    docs = rendered["production"][0]
    keys = {
        "obs-db-secret": {
            "DB_USER",
            "DB_PASSWORD",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
            "POSTGRES_DB",
        },
        "obs-kis-secret": {"KIS_APP_KEY", "KIS_APP_SECRET", "KIS_HTS_ID"},
        "obs-backup-secret": {
            "OBSERVER_BACKUP_REPOSITORY",
            "OBSERVER_BACKUP_PASSWORD",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        },
    }
    for name, expected in keys.items():
        sealed = find(docs, "SealedSecret", name)
        assert set(sealed["spec"]["encryptedData"]) == expected
        assert all(v.startswith("PLACEHOLDER") for v in sealed["spec"]["encryptedData"].values())
    assert not kinds(docs, "Secret"), "no plaintext Secret in production"


def test_network_policy_egress_and_ingress(rendered: dict[str, Any]) -> None:
    policy = find(rendered["production"][0], "NetworkPolicy", "observer")
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "observer"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    ports = {(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"]}
    assert ports == {
        ("UDP", 53),
        ("TCP", 53),
        ("TCP", 5432),
        ("TCP", 9443),
        ("TCP", 29443),
        ("TCP", 21000),
        ("TCP", 31000),
        ("TCP", 443),
    }
    assert all(rule.get("ports") for rule in spec["egress"]), "a rule without ports allows all"
    assert all(rule.get("to") for rule in spec["egress"]), "a rule without to: allows anywhere"
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8000}]
    assert {"podSelector": {}} in ingress["from"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    } in ingress["from"]


def test_postgres_statefulset(rendered: dict[str, Any]) -> None:
    docs = rendered["production"][0]
    sts = find(docs, "StatefulSet", "postgres")
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["serviceName"] == "postgres-headless"
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert re.fullmatch(r"postgres:15\.\d+", container["image"])
    assert pod["securityContext"]["fsGroup"] == 999
    env = {e["name"]: e for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "db")
    assert PurePosixPath(mount["mountPath"]) in PurePosixPath(env["PGDATA"]["value"]).parents
    volume = next(v for v in pod["volumes"] if v["name"] == "db")
    assert volume["persistentVolumeClaim"]["claimName"] == "observer-db-pvc"
    for probe in ("readinessProbe", "livenessProbe"):
        assert "pg_isready" in " ".join(container[probe]["exec"]["command"])
    assert find(docs, "Service", "postgres")["spec"]["ports"][0]["port"] == 5432
    assert find(docs, "Service", "postgres-headless")["spec"]["clusterIP"] == "None"


def test_migration_job_and_backup_cronjob(rendered: dict[str, Any]) -> None:
    docs = rendered["production"][0]
    job = find(docs, "Job", "observer-migrate")
    pod = job["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    assert migrate["args"] == ["db", "migrate"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in migrate["env"][1:]}
    assert env == {"DB_USER": "POSTGRES_USER", "DB_PASSWORD": "POSTGRES_PASSWORD"}  # the owner
    (grant,) = pod["containers"]
    assert grant["command"][-1] == "/grants/db-grants.sql"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Sync"
    assert not any(d["metadata"]["name"] == "postgres-backup" for d in docs)  # no pg_dump
    cron = find(docs, "CronJob", "observer-backup")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["backup", "create"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]: v["persistentVolumeClaim"].get("readOnly")
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims["observer-data-pvc"] is True  # read-only, no claim of its own
    assert set(claims) <= {"observer-data-pvc", "observer-logs-pvc", "observer-universe-pvc"}
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_production_and_staging_seal_their_own_secrets(rendered: dict[str, Any]) -> None:
    for overlay, namespace in (("production", "observer-prod"), ("staging", "observer-staging")):
        for sealed in kinds(rendered[overlay][0], "SealedSecret"):
            assert sealed["metadata"]["namespace"] == namespace
            scope = sealed["metadata"].get("annotations", {})
            assert not any("namespace-wide" in k or "cluster-wide" in k for k in scope)
        kustomization = yaml.safe_load(
            (DEPLOY / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        assert all(
            r.startswith("sealed-secrets/") or not r.endswith("secret.yaml")
            for r in kustomization["resources"]
        )
    assert not (DEPLOY / "components" / "sealed-secrets").exists()


def test_argocd_project_and_applications(rendered: dict[str, Any], deploy_tree: Path) -> None:
    docs = rendered["argocd"][0]
    project = find(docs, "AppProject", "observer")["spec"]
    (repo,) = project["sourceRepos"]
    namespaces = {d["namespace"] for d in project["destinations"]}
    assert namespaces == {"observer-prod", "observer-staging"}
    assert project["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace"},
        {"group": "storage.k8s.io", "kind": "StorageClass"},
    ]
    apps = kinds(docs, "Application")
    assert {a["metadata"]["name"] for a in apps} == {"observer-prod", "observer-staging"}
    whitelist = {
        (w["group"], w["kind"])
        for w in project["namespaceResourceWhitelist"] + project["clusterResourceWhitelist"]
    }
    for app in apps:
        spec = app["spec"]
        assert spec["project"] == "observer" and spec["source"]["repoURL"] == repo
        assert spec["destination"]["namespace"] in namespaces
        app_docs, stderr = kustomize(deploy_tree.parent / spec["source"]["path"])
        assert stderr == ""
        namespaced = [d for d in app_docs if d["kind"] != "StorageClass"]
        assert {d["metadata"]["namespace"] for d in namespaced} == {
            spec["destination"]["namespace"]
        }
        for doc in app_docs:
            group = doc["apiVersion"].rpartition("/")[0]
            assert (group, doc["kind"]) in whitelist, f"{doc['kind']} not whitelisted"
    prod = find(docs, "Application", "observer-prod")["spec"]
    assert prod["source"]["path"] == "deploy/overlays/production"
    assert prod["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    backoff = prod["syncPolicy"]["retry"]["backoff"]
    assert prod["syncPolicy"]["retry"]["limit"] >= 1 and backoff["factor"] >= 2


def test_operator_files_are_valid_for_the_service(rendered: dict[str, Any]) -> None:
    from observer.market.calendar_overrides import OVERRIDE_FILE_NAME, parse_overrides
    from observer.market.sessions import parse_schedule

    files = find(rendered["production"][0], "ConfigMap", "observer-operator-files")["data"]
    assert OVERRIDE_FILE_NAME in files
    base = parse_schedule(load_settings({}).settings.session_schedule)
    overrides = parse_overrides(yaml.safe_load(files[OVERRIDE_FILE_NAME]), "configmap", base)
    assert not overrides.close and not overrides.open


def test_a_configuration_change_rolls_the_pod(deploy_tree: Path, tmp_path: Path) -> None:
    """The ConfigMap's name carries its content hash: a changed value changes the pod template,
    so the Deployment rolls the pod (an in-place ConfigMap edit would not)."""
    import shutil

    def referenced(tree: Path) -> str:
        docs, _ = kustomize(tree / "overlays" / "production")
        refs = [s["configMapRef"]["name"] for s in observer_container(docs)["envFrom"]
                if "configMapRef" in s]  # fmt: skip
        return refs[0]

    changed = tmp_path / "deploy"
    shutil.copytree(deploy_tree, changed)
    properties = changed / "base" / "observer" / "service.properties"
    properties.write_text(properties.read_text().replace("LOG_LEVEL=INFO", "LOG_LEVEL=DEBUG"))
    before, after = referenced(deploy_tree), referenced(changed)
    assert before.startswith("observer-config-") and after.startswith("observer-config-")
    assert before != after
