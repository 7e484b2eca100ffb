"""A failed write probe says why and leaves no ``.observer-write-probe-<pid>`` behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from observer.archive.segment import PROBE_NAME, probe_directory


@pytest.fixture
def full_tmpfs(small_tmpfs: Path) -> Path:
    fd = os.open(small_tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"x" * 4096)
    finally:
        os.close(fd)
    return small_tmpfs


def test_probe_on_a_full_disk_leaves_nothing(full_tmpfs: Path) -> None:
    problem = probe_directory(full_tmpfs)
    assert problem is not None and "No space left on device" in problem
    assert not (full_tmpfs / f"{PROBE_NAME}-{os.getpid()}").exists()


def test_probe_on_a_writable_directory(tmp_path: Path) -> None:
    assert probe_directory(tmp_path) is None
    assert list(tmp_path.iterdir()) == []
