"""Fixtures shared by every test area."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from observer.config.settings import Settings, settings_for_tests

pytest_plugins = ["tests.pg"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty OBSERVER_HOME for one test."""
    path = tmp_path / "observer"
    path.mkdir()
    return path


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, small enough to fill for real (skipped where mounting is refused)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"mounting tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def make_settings(home: Path) -> Iterator[Any]:
    """Build Settings rooted at the test's home, with overrides by alias or field name."""

    def build(**overrides: Any) -> Settings:
        return settings_for_tests(home, **overrides)

    yield build


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session for one test."""
    async with aiohttp.ClientSession() as session:
        yield session
