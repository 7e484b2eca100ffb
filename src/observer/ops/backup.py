"""Backups: one ``.tar.zst`` of the closed archive and the universe snapshots.

Layout of ``observer-backup-YYYYMMDDTHHMMSS.tar.zst`` (a streamed tar, zstd-compressed):

* ``MANIFEST.json`` first: ``{"format":1,"created_at":ISO,"version":..,"files":[{"path",
  "bytes","sha256"}]}`` so verify and restore can check every member while streaming;
* ``assets/<name>``: closed archive hours (``.jsonl.zst``) and the per-day checksum manifests;
* ``universe/<relative path>``: universe snapshots.

The backup is written under a temporary name, fsync'd and renamed, so a backup that exists is
complete. Nothing is ever read fully into memory.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson
import zstandard

from observer import __version__
from observer.clock import Clock, kst_iso
from observer.config.settings import Settings
from observer.metrics import Metrics
from observer.ops.exceptions import BackupError, BackupVerifyError, RestoreConflictError

log = logging.getLogger(__name__)

MANIFEST_MEMBER = "MANIFEST.json"
FORMAT = 1
PREFIX = "observer-backup-"
SUFFIX = ".tar.zst"
CHUNK = 1 << 20
AREAS = ("assets", "universe")


@dataclass(frozen=True)
class BackupEntry:
    """One file inside a backup."""

    path: str  # posix path inside the backup, e.g. assets/scalp_20260105_09.jsonl.zst
    bytes: int
    sha256: str


@dataclass
class BackupInfo:
    """A backup file and its manifest."""

    path: Path
    created_at: str
    files: list[BackupEntry]
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.path.name,
            "created_at": self.created_at,
            "files": len(self.files),
            "content_bytes": sum(f.bytes for f in self.files),
            "size": self.size,
        }


@dataclass
class RestoreReport:
    """What a restore wrote and skipped."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    overwritten: list[Path] = field(default_factory=list)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _HashingReader(io.RawIOBase):
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


def backup_sources(settings: Settings) -> list[tuple[str, Path]]:
    """(path inside the backup, file on disk) for every file a backup takes, in a stable order."""
    sources: list[tuple[str, Path]] = []
    assets = settings.assets_dir
    if assets.is_dir():
        for path in sorted(assets.iterdir()):
            closed = path.name.endswith(".jsonl.zst") or (
                path.name.startswith("manifest_") and path.name.endswith(".sha256")
            )
            if closed and path.is_file() and not path.is_symlink():
                sources.append((f"assets/{path.name}", path))
    snapshots = settings.snapshot_dir
    if snapshots.is_dir():
        for path in sorted(snapshots.rglob("*")):
            rel = path.relative_to(snapshots)
            hidden = any(part.startswith(".") for part in rel.parts)
            if path.is_file() and not path.is_symlink() and not hidden and path.suffix != ".tmp":
                sources.append((f"universe/{rel.as_posix()}", path))
    return sources


class BackupStore:
    """Creates, lists, verifies and restores the backups in ``settings.backup_dir``."""

    def __init__(self, settings: Settings, clock: Clock, metrics: Metrics | None = None) -> None:
        self._s = settings
        self._clock = clock
        self._metrics = metrics
        self.directory = settings.backup_dir

    # -- create --------------------------------------------------------------------------
    def create(self) -> BackupInfo:
        """Write a new backup of every closed archive file and snapshot; returns its info."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sources = backup_sources(self._s)
        entries = [
            BackupEntry(name, path.stat().st_size, _sha256_file(path)) for name, path in sources
        ]
        created_at = kst_iso(self._clock.now_ns())
        final = self._new_name()
        tmp = final.with_name("." + final.name + ".tmp")
        manifest = {
            "format": FORMAT,
            "created_at": created_at,
            "version": __version__,
            "files": [e.__dict__ for e in entries],
        }
        try:
            with tmp.open("wb") as raw:
                self._write_tar(raw, manifest, sources, entries)
                raw.flush()
                os.fsync(raw.fileno())
            tmp.replace(final)
            _fsync_dir(self.directory)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self._metrics is not None:
            self._metrics.backup_last_success.set(self._clock.now_ns() / 1e9)
        info = BackupInfo(final, created_at, entries, final.stat().st_size)
        log.info("backup %s written: %d file(s), %d bytes", final.name, len(entries), info.size)
        return info

    def _new_name(self) -> Path:
        stamp = self._clock.now().strftime("%Y%m%dT%H%M%S")
        candidate = self.directory / f"{PREFIX}{stamp}{SUFFIX}"
        n = 1
        while candidate.exists():
            candidate = self.directory / f"{PREFIX}{stamp}-{n}{SUFFIX}"
            n += 1
        return candidate

    def _write_tar(
        self,
        raw: IO[bytes],
        manifest: dict[str, Any],
        sources: list[tuple[str, Path]],
        entries: list[BackupEntry],
    ) -> None:
        compressor = zstandard.ZstdCompressor(level=3)
        with (
            compressor.stream_writer(raw, closefd=False) as zst,
            tarfile.open(fileobj=zst, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
            info = tarfile.TarInfo(MANIFEST_MEMBER)
            info.size = len(body)
            info.mtime = int(self._clock.now_ns() / 1e9)
            tar.addfile(info, io.BytesIO(body))
            for (name, path), entry in zip(sources, entries, strict=True):
                info = tarfile.TarInfo(name)
                info.size = entry.bytes
                info.mtime = int(path.stat().st_mtime)
                info.mode = 0o644
                with path.open("rb") as fh:
                    reader = _HashingReader(fh)
                    tar.addfile(info, reader)
                if reader.digest.hexdigest() != entry.sha256:
                    raise BackupError(f"{name} changed while the backup was written", path)

    # -- list ----------------------------------------------------------------------------
    def list(self) -> list[BackupInfo]:
        """Every complete backup in the backup directory, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}")):
            try:
                found.append(self.read_info(path))
            except BackupError as exc:
                log.warning("unreadable backup %s: %s", path.name, exc)
        return found

    def read_info(self, path: Path) -> BackupInfo:
        """The manifest of one backup (reads only its first member)."""
        with _open_tar(path) as (tar, _raw):
            manifest = _read_manifest(tar, path)
        return BackupInfo(
            path, manifest["created_at"], _entries(manifest, path), path.stat().st_size
        )

    def resolve(self, name: str) -> Path:
        """A backup given by path or by name in the backup directory."""
        path = Path(name)
        if path.is_file():
            return path
        inside = self.directory / name
        if inside.is_file():
            return inside
        raise BackupError("no such backup", path)

    # -- verify --------------------------------------------------------------------------
    def verify(self, path: Path) -> BackupInfo:
        """Re-hash every member against the manifest; raises BackupVerifyError on any mismatch."""
        problems: list[str] = []
        with _open_tar(path) as (tar, _raw):
            manifest = _read_manifest(tar, path)
            expected = {e.path: e for e in _entries(manifest, path)}
            seen: set[str] = set()
            for member, digest, size in _hashed_members(tar, path):
                entry = expected.get(member.name)
                if entry is None:
                    problems.append(f"{member.name}: not in the manifest")
                    continue
                seen.add(member.name)
                if digest != entry.sha256 or size != entry.bytes:
                    problems.append(f"{member.name}: content differs from the manifest")
        problems.extend(f"{name}: missing from the backup" for name in expected if name not in seen)
        if problems:
            raise BackupVerifyError(path, problems)
        log.info("backup %s verified: %d file(s)", path.name, len(expected))
        return BackupInfo(
            path, manifest["created_at"], list(expected.values()), path.stat().st_size
        )

    # -- restore -------------------------------------------------------------------------
    def restore(self, path: Path, target: Path | None = None, force: bool = False) -> RestoreReport:
        """Restore a backup into the configured directories (or ``target``/assets|universe).

        Identical files are skipped; differing files stop the restore before anything is
        written unless ``force``. Every written file is checked against the manifest.
        """
        roots = self._roots(target)
        report = RestoreReport()
        with _open_tar(path) as (tar, _raw):
            manifest = _read_manifest(tar, path)
            entries = {e.path: e for e in _entries(manifest, path)}
            conflicts: list[Path] = []
            for entry in entries.values():
                dest = _destination(roots, entry.path, path)
                if not dest.exists():
                    continue
                if dest.is_file() and _sha256_file(dest) == entry.sha256:
                    report.skipped.append(dest)
                else:
                    conflicts.append(dest)
            if conflicts and not force:
                raise RestoreConflictError(path, conflicts)
            skip = set(report.skipped)
            for member in _members(tar):
                self._restore_member(tar, member, entries, roots, skip, path, report)
                if member.name in entries:
                    entries.pop(member.name)
        if entries:
            raise BackupVerifyError(path, [f"{name}: missing from the backup" for name in entries])
        report.overwritten = [p for p in report.written if p in set(conflicts)]
        log.info(
            "restored %s: %d written, %d identical skipped, %d overwritten",
            path.name,
            len(report.written),
            len(report.skipped),
            len(report.overwritten),
        )
        return report

    def _roots(self, target: Path | None) -> dict[str, Path]:
        if target is None:
            return {"assets": self._s.assets_dir, "universe": self._s.snapshot_dir}
        return {area: target / area for area in AREAS}

    @staticmethod
    def _restore_member(
        tar: tarfile.TarFile,
        member: tarfile.TarInfo,
        entries: dict[str, BackupEntry],
        roots: dict[str, Path],
        skip: set[Path],
        path: Path,
        report: RestoreReport,
    ) -> None:
        entry = entries.get(member.name)
        if entry is None or not member.isfile():
            raise BackupVerifyError(path, [f"{member.name}: not in the manifest"])
        dest = _destination(roots, member.name, path)
        if dest in skip:
            return
        source = tar.extractfile(member)
        if source is None:
            raise BackupVerifyError(path, [f"{member.name}: unreadable member"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name("." + dest.name + ".restore.tmp")
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != entry.sha256:
                raise BackupVerifyError(path, [f"{member.name}: content differs from the manifest"])
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(dest.parent)
        report.written.append(dest)


class _TarContext:
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


def _open_tar(path: Path) -> _TarContext:
    return _TarContext(path)


def _read_manifest(tar: tarfile.TarFile, path: Path) -> dict[str, Any]:
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


def _entries(manifest: dict[str, Any], path: Path) -> list[BackupEntry]:
    try:
        return [
            BackupEntry(str(f["path"]), int(f["bytes"]), str(f["sha256"]))
            for f in manifest["files"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"malformed manifest entry: {exc}", path) from exc


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members after the current one (a streamed tar cannot be iterated from the start)."""
    while (member := tar.next()) is not None:
        yield member


def _hashed_members(tar: tarfile.TarFile, path: Path) -> Iterator[tuple[tarfile.TarInfo, str, int]]:
    for member in _members(tar):
        source = tar.extractfile(member) if member.isfile() else None
        if source is None:
            raise BackupVerifyError(path, [f"{member.name}: not a regular file"])
        digest = hashlib.sha256()
        size = 0
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        yield member, digest.hexdigest(), size


def _destination(roots: dict[str, Path], name: str, path: Path) -> Path:
    """Where a member goes; refuses names that would escape the target directories."""
    pure = PurePosixPath(name)
    parts = pure.parts
    if pure.is_absolute() or len(parts) < 2 or parts[0] not in roots or ".." in parts:
        raise BackupVerifyError(path, [f"{name}: not a valid member path"])
    return roots[parts[0]].joinpath(*parts[1:])
