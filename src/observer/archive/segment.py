"""One open hour file of the archive and the blocking append + fsync it does.

Runs inside a worker thread (``asyncio.to_thread``). An append either lands completely and is
fsync'd, or is cut back to the previous size so no partial line remains; the caller learns which.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from observer.archive.exceptions import ArchiveWriteError
from observer.durable import fsync_dir

log = logging.getLogger(__name__)
OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
TAIL_CHUNK = 64 * 1024
FILE_MODE = 0o644
PROBE_NAME = ".observer-write-probe"


def probe_directory(directory: Path) -> str | None:
    """Really create, write, fsync and remove a small file; an error text, or None when fine."""
    path = directory / f"{PROBE_NAME}-{os.getpid()}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return f"archive directory not writable: {exc.strerror or exc}"
    problem = None
    try:
        os.write(fd, b"probe\n")
        os.fsync(fd)
    except OSError as exc:
        problem = f"archive directory not writable: {exc.strerror or exc}"
    finally:
        os.close(fd)
        try:  # the probe never outlives its check, whether the write failed or not
            path.unlink()
        except OSError as exc:
            problem = problem or f"archive directory: cannot remove {path.name}: {exc.strerror}"
    return problem


def whole_lines_end(fd: int, size: int) -> int:
    """Offset just after the last ``\\n`` among the first ``size`` bytes of ``fd`` (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - TAIL_CHUNK)
        nl = os.pread(fd, end - start, start).rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        end = start
    return 0


class Segment:
    """An archive file open for appending (one stream, one KST hour)."""

    __slots__ = ("fd", "index", "name", "path", "size", "stream", "trusted")

    def __init__(self, directory: Path, stream: str, index: int, name: str) -> None:
        self.stream = stream
        self.index = index
        self.name = name
        self.path = directory / name
        self.fd = -1
        self.size = 0
        self.trusted = -1  # the size known to end after a whole, fsync'd line (-1: unknown)

    def open(self) -> None:
        """Open (creating it durably if needed) for appending; raises ArchiveWriteError."""
        try:
            try:
                self.fd = os.open(self.path, OPEN_FLAGS | os.O_CREAT | os.O_EXCL, FILE_MODE)
                fsync_dir(self.path.parent)
            except FileExistsError:
                self.fd = os.open(self.path, OPEN_FLAGS)
            size = os.fstat(self.fd).st_size
            # after a failed append that could not be cut back, finish that job; otherwise
            # never append after a torn line (files without start-up recovery, e.g. quarantine)
            keep = self.trusted if self.trusted >= 0 else whole_lines_end(self.fd, size)
            if keep != size:
                os.ftruncate(self.fd, keep)
                os.fsync(self.fd)
                log.warning("cut %d bytes of a partial last line from %s", size - keep, self.path)
                size = keep
            self.size = self.trusted = size
        except OSError as exc:
            self.close()
            raise ArchiveWriteError(str(self.path), exc.errno, exc.strerror or str(exc)) from exc

    def append(self, data: bytes | bytearray) -> None:
        """Write ``data`` completely and fsync, or cut back to the old size and raise."""
        if self.fd < 0:
            self.open()
        before = self.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
            os.fsync(self.fd)
        except OSError as exc:
            self._cut_back(before)
            raise ArchiveWriteError(str(self.path), exc.errno, exc.strerror or str(exc)) from exc
        self.size = self.trusted = before + len(data)

    def _cut_back(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
            os.fsync(self.fd)
        except OSError as exc:
            # The file may now end in a partial line; start-up recovery cuts it (it has no "\n"
            # or was never acknowledged). Close so the next append reopens and re-checks.
            log.error("archive: could not cut %s back to %d bytes: %s", self.path, size, exc)
            self.close()
            return
        self.size = self.trusted = size

    def close(self) -> None:
        """Close the descriptor (everything written was already fsync'd)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.close(fd)
            except OSError as exc:
                log.warning("archive: closing %s failed: %s", self.path, exc)
