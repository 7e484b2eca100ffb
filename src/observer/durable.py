"""Durable file replacement: the one way Observer replaces a whole file on disk.

A file that is replaced (the token cache, a universe snapshot, a backup, a restored file, the
persistence marker) is written to a temporary name in the same directory, flushed and fsync'd,
renamed over the target and then the directory is fsync'd, so after a crash the target holds
either the old content or the new one, never a mix, and the rename itself survives. A failure
at any step removes the temporary file and leaves the target as it was.

Kept below every package (like :mod:`observer.clock`), so ``kis`` can use it without importing
``archive``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

DEFAULT_MODE = 0o666  # as ``open(path, "wb")``: the process umask applies


def fsync_dir(directory: Path) -> None:
    """fsync a directory so an entry created, renamed or removed in it is durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path, tag: str = "") -> Path:
    """The hidden temporary name next to ``path``: ``.<name>[.<tag>].tmp``."""
    middle = f".{tag}" if tag else ""
    return path.with_name(f".{path.name}{middle}.tmp")


@contextlib.contextmanager
def replacing(
    path: Path, *, mode: int | None = None, temp: Path | None = None
) -> Iterator[BinaryIO]:
    """Yield a file open for writing; on a clean exit it durably replaces ``path``.

    ``mode`` forces the file's permission bits whatever the umask (the token cache: 0600);
    without it the umask applies as for ``open(path, "wb")``. ``temp`` is the temporary file
    (default :func:`temp_name`). An exception inside the block or in any later step removes
    the temporary file and propagates; one raised before the rename leaves ``path`` unchanged.
    """
    tmp = temp if temp is not None else temp_name(path)
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
            DEFAULT_MODE if mode is None else mode,
        )
        with os.fdopen(fd, "wb") as file:
            if mode is not None:
                os.fchmod(fd, mode)  # a temp file left by a crash keeps its old mode otherwise
            yield file
            file.flush()
            os.fsync(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_file(
    path: Path, data: bytes, *, mode: int | None = None, temp: Path | None = None
) -> None:
    """Durably replace ``path`` with ``data`` (see :func:`replacing`)."""
    with replacing(path, mode=mode, temp=temp) as file:
        file.write(data)
