"""One writer per archive: an exclusive OS lock on ``<data dir>/.observer.lock``.

``observer run`` holds the lock for its whole life; every command that changes the archive or
its files takes it too, or refuses. The lock is a ``flock`` on an open file, so the kernel
releases it when the holder dies in any way (a SIGKILL never leaves a stale lock). The holder
writes its pid, host, start time and purpose into the file, so a refused process can name it.
The file itself is never deleted: deleting it would let a second process lock a new inode.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from observer.archive.exceptions import ArchiveLocked
from observer.clock import kst_iso

LOCK_NAME = ".observer.lock"


class DataDirLock:
    """The exclusive lock of one data directory, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, data_dir: Path, purpose: str = "observer run") -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self.purpose = purpose
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock at once or raise :class:`ArchiveLocked` naming the holder."""
        if self._fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = describe_holder(read_holder(self.path))
            raise ArchiveLocked(str(self.data_dir), holder) from None
        except OSError:
            os.close(fd)
            raise
        info = {  # real time, not the (possibly accelerated) service clock
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": kst_iso(time.time_ns()),
            "purpose": self.purpose,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(info) + b"\n", 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock back (closing the file releases it); idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)


def read_holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its holder ({} when unreadable)."""
    try:
        info = orjson.loads(path.read_bytes() or b"{}")
    except (OSError, orjson.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def describe_holder(info: dict[str, Any]) -> str:
    """``pid 123 on host web-1 since 2026-01-05T09:00:00+09:00 (observer run)``."""
    if not info:
        return "an unknown process"
    text = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
    if info.get("started"):
        text += f" since {info['started']}"
    if info.get("purpose"):
        text += f" ({info['purpose']})"
    return text


def current_holder(data_dir: Path) -> str | None:
    """The holder of the data directory's lock as text, or None when nobody holds it.

    Probes with a shared, non-blocking lock that it releases at once; creates nothing.
    """
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return describe_holder(read_holder(path))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(data_dir: Path, purpose: str) -> Iterator[DataDirLock]:
    """Hold the data directory's lock for a block (commands that change the archive)."""
    lock = DataDirLock(data_dir, purpose)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
