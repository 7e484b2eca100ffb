"""Every Kustomize directory renders cleanly with current syntax only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, OVERLAYS, kinds

DEPRECATED_FIELDS = (
    "commonLabels",
    "patchesStrategicMerge",
    "patchesJson6902",
    "bases",
    "vars",
    "imageTags",
)


@pytest.mark.parametrize("name", [*OVERLAYS, "base", "argocd"])
def test_renders_without_warnings(name: str, rendered: dict[str, Any]) -> None:
    docs, stderr = rendered[name]
    assert stderr == ""
    assert docs, f"{name} rendered nothing"


def test_no_deprecated_kustomize_fields() -> None:
    files = sorted(DEPLOY.rglob("kustomization.yaml"))
    assert len(files) >= 6
    for path in files:
        content = yaml.safe_load(path.read_text())
        used = sorted(set(content) & set(DEPRECATED_FIELDS))
        assert not used, f"{path.relative_to(DEPLOY)} uses deprecated {used}"
        assert content.get("apiVersion", "").startswith("kustomize.config.k8s.io/"), path


def test_overlays_set_their_namespaces(rendered: dict[str, Any]) -> None:
    expected = {
        "production": "observer-prod",
        "staging": "observer-staging",
        "local": "observer-local",
    }
    for overlay, namespace in expected.items():
        docs, _ = rendered[overlay]
        found = {d["metadata"].get("namespace") for d in docs if d["kind"] != "StorageClass"}
        assert found == {namespace}, overlay


def test_components_per_overlay(rendered: dict[str, Any]) -> None:
    production, _ = rendered["production"]
    staging, _ = rendered["staging"]
    local, _ = rendered["local"]
    for kind in ("ServiceMonitor", "PrometheusRule", "SealedSecret"):
        assert kinds(production, kind), kind
    assert kinds(staging, "SealedSecret")
    assert not kinds(staging, "ServiceMonitor")
    assert not kinds(local, "ServiceMonitor") and not kinds(local, "PrometheusRule")
    assert not kinds(local, "SealedSecret")
    assert {s["metadata"]["name"] for s in kinds(local, "Secret")} == {
        "obs-db-secret",
        "obs-kis-secret",
        "obs-backup-secret",
    }


def test_local_secrets_come_from_ignored_env_files(deploy_tree: Path) -> None:
    kustomization = yaml.safe_load((DEPLOY / "overlays/local/kustomization.yaml").read_text())
    files = [f for gen in kustomization["secretGenerator"] for f in gen["envs"]]
    gitignore = (DEPLOY.parent / ".gitignore").read_text()
    assert "deploy/overlays/local/*.env" in gitignore
    for name in files:
        assert name.endswith(".env")
        assert (DEPLOY / "overlays/local" / f"{name}.example").is_file(), name
        assert (deploy_tree / "overlays/local" / name).is_file()
