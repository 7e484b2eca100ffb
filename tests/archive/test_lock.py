"""One writer per archive: the data directory lock, in one process and across real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from observer.archive.exceptions import ArchiveLocked
from observer.archive.lock import LOCK_NAME, DataDirLock, current_holder, read_holder
from tests.service_process import OBSERVER, ServiceProcess, base_env, free_port


def test_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path / "data")
    first.acquire()
    info = read_holder(tmp_path / "data" / LOCK_NAME)
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    with pytest.raises(ArchiveLocked) as caught:
        DataDirLock(tmp_path / "data", "observer backup restore").acquire()
    assert caught.value.data_dir == str(tmp_path / "data")
    assert f"pid {os.getpid()} on host {socket.gethostname()} since " in caught.value.holder
    assert "(observer run)" in caught.value.holder
    assert current_holder(tmp_path / "data") == caught.value.holder
    first.release()
    assert current_holder(tmp_path / "data") is None
    second = DataDirLock(tmp_path / "data")
    second.acquire()  # free again once released
    second.release()


def test_no_lock_file_means_no_holder(tmp_path: Path) -> None:
    assert current_holder(tmp_path) is None
    assert not (tmp_path / LOCK_NAME).exists()  # probing creates nothing


def test_two_services_on_one_home(home: Path) -> None:
    """The second `observer run` fails fast, exit 2, one line; a SIGKILL leaves no stale lock."""
    with ServiceProcess(home) as first:
        first.start(wait_ready=False)
        assert first.proc is not None
        started = time.monotonic()
        second = subprocess.run(
            [*OBSERVER, "run"],
            env=base_env(home, free_port()),
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2, second.stderr
        assert len(lines) == 1 and "Traceback" not in second.stderr
        assert str(home / "data") in lines[0]
        assert f"pid {first.proc.pid} on host {socket.gethostname()}" in lines[0]
        assert time.monotonic() - started < 30  # (interpreter start-up included; no waiting)
        # commands that change the archive refuse too, naming the holder
        for args in (("maintenance", "run", "--task", "retention"), ("backup", "restore", "x")):
            refused = subprocess.run(
                [*OBSERVER, *args], env=base_env(home, 0), capture_output=True, text=True,
                timeout=60,
            )  # fmt: skip
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert f"pid {first.proc.pid}" in refused.stderr
        # read-only commands do not need the lock
        status = subprocess.run(
            [*OBSERVER, "config", "--check"], env=base_env(home, 0), capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert f"in use by pid {first.proc.pid}" in status.stdout
        first.kill()  # SIGKILL: the kernel releases the lock
    with ServiceProcess(home) as again:
        again.start(wait_ready=False)
        assert again.terminate() == 0


def test_universe_build_and_restore_refuse_while_the_directory_is_held(home: Path) -> None:
    lock = DataDirLock(home / "data")
    lock.acquire()
    try:
        for args in (("universe", "build"), ("backup", "restore", "any")):
            done = subprocess.run([*OBSERVER, *args], env=base_env(home, 0), capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
            assert done.returncode == 2, done.stdout + done.stderr
            assert "Traceback" not in done.stderr
            assert f"is in use by pid {os.getpid()}" in done.stderr
    finally:
        lock.release()
