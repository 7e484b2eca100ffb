"""Fixtures shared by every test area."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
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
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mount a real tmpfs of a size (``64k``, ``32m``) at a new directory of the test's temp
    dir, skipping the test where mounting is refused; every mount is undone at the end."""
    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"mounting tmpfs is not permitted here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def small_tmpfs(mount_tmpfs: Callable[[str, str], Path]) -> Path:
    """A real 64 KiB tmpfs, small enough to fill for real."""
    return mount_tmpfs("tmpfs", "64k")


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
