"""The backup file format: a streamed tar, zstd-compressed, whose first member is the manifest.

``MANIFEST.json`` = ``{"format":1,"created_at":ISO,"version":..,"files":[{"path","bytes",
"sha256"}]}``; then one member per file (``assets/<name>``, ``universe/<relative path>``). Reading
is streaming only: the manifest comes first so every later member can be checked as it passes.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson
import zstandard

from observer.ops.exceptions import BackupError, BackupVerifyError

MANIFEST_MEMBER = "MANIFEST.json"
FORMAT = 1
CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupEntry:
    """One file inside a backup."""

    path: str  # posix path inside the backup, e.g. assets/scalp_20260105_09.jsonl.zst
    bytes: int
    sha256: str


class HashingReader(io.RawIOBase):
    """A file wrapper hashing every byte read through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self.digest.update(data)
        return data


class TarContext:
    """Opens a backup as a streamed tar over a zstd reader, translating read errors."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._raw: IO[bytes] | None = None
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> tuple[tarfile.TarFile, IO[bytes]]:
        try:
            self._raw = self._path.open("rb")
            reader = zstandard.ZstdDecompressor().stream_reader(self._raw)
            self._tar = tarfile.open(fileobj=reader, mode="r|")
        except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
            self.__exit__(None, None, None)
            raise BackupError(f"cannot open backup: {exc}", self._path) from exc
        return self._tar, self._raw

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._tar is not None:
            self._tar.close()
        if self._raw is not None:
            self._raw.close()
        if isinstance(exc, tarfile.TarError | zstandard.ZstdError | EOFError):
            raise BackupVerifyError(self._path, [f"unreadable: {exc}"]) from exc


def open_tar(path: Path) -> TarContext:
    return TarContext(path)


def read_manifest(tar: tarfile.TarFile, path: Path) -> dict[str, Any]:
    first = tar.next()
    if first is None or first.name != MANIFEST_MEMBER or not first.isfile():
        raise BackupError("not an Observer backup (no manifest first)", path)
    body = tar.extractfile(first)
    if body is None:
        raise BackupError("unreadable manifest", path)
    try:
        manifest: dict[str, Any] = orjson.loads(body.read())
    except orjson.JSONDecodeError as exc:
        raise BackupError(f"manifest is not JSON: {exc}", path) from exc
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), list):
        raise BackupError("unsupported backup manifest", path)
    return manifest


def entries_of(manifest: dict[str, Any], path: Path) -> list[BackupEntry]:
    try:
        return [
            BackupEntry(str(f["path"]), int(f["bytes"]), str(f["sha256"]))
            for f in manifest["files"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"malformed manifest entry: {exc}", path) from exc


def members_after(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members after the current one (a streamed tar cannot be iterated from the start)."""
    while (member := tar.next()) is not None:
        yield member


def hashed_members(tar: tarfile.TarFile, path: Path) -> Iterator[tuple[tarfile.TarInfo, str, int]]:
    for member in members_after(tar):
        source = tar.extractfile(member) if member.isfile() else None
        if source is None:
            raise BackupVerifyError(path, [f"{member.name}: not a regular file"])
        digest = hashlib.sha256()
        size = 0
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        yield member, digest.hexdigest(), size


def destination(roots: dict[str, Path], name: str, path: Path) -> Path:
    """Where a member goes; refuses names that would escape the target directories."""
    pure = PurePosixPath(name)
    parts = pure.parts
    if pure.is_absolute() or len(parts) < 2 or parts[0] not in roots or ".." in parts:
        raise BackupVerifyError(path, [f"{name}: not a valid member path"])
    return roots[parts[0]].joinpath(*parts[1:])
