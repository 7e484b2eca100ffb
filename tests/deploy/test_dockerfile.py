"""The Dockerfile, linted statically (no container engine runs here)."""

from __future__ import annotations

import json
import re

from tests.deploy.conftest import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def test_multi_stage_with_a_pinned_slim_python() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image
    froms = [a for w, a in steps if w == "FROM"]
    assert len(froms) == 2
    assert all("latest" not in f for f in froms)
    assert froms[0].endswith(" AS build") and froms[1].endswith(" AS runtime")


def test_wheel_built_in_first_stage_and_installed_in_second() -> None:
    steps = instructions()
    split = [i for i, (w, _) in enumerate(steps) if w == "FROM"][1]
    build, runtime = steps[:split], steps[split:]
    assert any(w == "RUN" and "pip wheel" in a for w, a in build)
    assert any(w == "COPY" and "--from=build" in a for w, a in runtime)
    assert any(w == "RUN" and "--no-index" in a and "--find-links" in a for w, a in runtime)


def test_runs_as_uid_1000_non_root() -> None:
    steps = instructions()
    users = [a for w, a in steps if w == "USER"]
    assert users and users[-1] == "1000:1000"
    assert any(w == "RUN" and "--uid 1000" in a and "--gid 1000" in a for w, a in steps)
    last_user = max(i for i, (w, _) in enumerate(steps) if w == "USER")
    assert all(w != "RUN" for w, _ in steps[last_user:]), "RUN after USER would need root"


def test_healthcheck_on_health_without_curl() -> None:
    checks = [a for w, a in instructions() if w == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/health" in checks[0] and "urllib" in checks[0]
    assert "curl" not in DOCKERFILE.read_text() and "wget" not in DOCKERFILE.read_text()


def test_entrypoint_runs_the_service() -> None:
    steps = dict(instructions())
    assert json.loads(steps["ENTRYPOINT"]) == ["observer"]
    assert json.loads(steps["CMD"]) == ["run"]


def test_writable_paths_are_volumes_only() -> None:
    steps = instructions()
    volumes = json.loads(next(a for w, a in steps if w == "VOLUME"))
    chowned = [a for w, a in steps if w == "RUN" and "chown" in a]
    assert chowned
    for arg in chowned:
        targets = re.findall(r"chown 1000:1000 ([^&]+)", arg)[0].split()
        assert sorted(targets) == sorted(volumes)
        assert "-R" not in arg


def test_multi_arch_friendly() -> None:
    text = DOCKERFILE.read_text()
    for arch in ("amd64", "x86_64", "aarch64", "arm64"):
        for line in text.splitlines():
            if arch in line:
                assert line.lstrip().startswith("#"), f"architecture-specific step: {line}"


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    assert {"!pyproject.toml", "!setup.py", "!README.md", "!src/"} <= set(lines)


def test_the_runtime_image_has_restic_for_the_backup_cronjob() -> None:
    steps = instructions()
    split = [i for i, (w, _) in enumerate(steps) if w == "FROM"][1]
    runtime = [a for w, a in steps[split:] if w == "RUN"]
    installs = [a for a in runtime if "apt-get install" in a]
    assert any(re.search(r"\brestic\b", a) for a in installs), installs
    assert all("rm -rf /var/lib/apt/lists" in a for a in installs)  # no apt cache in the image
