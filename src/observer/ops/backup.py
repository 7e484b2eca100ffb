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
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import zstandard

from observer import __version__
from observer.archive.compress import sha256_file
from observer.clock import Clock, kst_iso
from observer.config.settings import Settings
from observer.durable import replacing, temp_name
from observer.metrics import Metrics
from observer.ops.backup_format import (
    CHUNK,
    FORMAT,
    MANIFEST_MEMBER,
    BackupEntry,
    HashingReader,
    destination,
    entries_of,
    hashed_members,
    members_after,
    open_tar,
    read_manifest,
)
from observer.ops.exceptions import (
    BackupError,
    BackupSourceChangedError,
    BackupVerifyError,
    RestoreConflictError,
)

log = logging.getLogger(__name__)

PREFIX = "observer-backup-"
SUFFIX = ".tar.zst"
AREAS = ("assets", "universe")
CREATE_ATTEMPTS = 3


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
        """Write a new backup of every closed archive file and snapshot; returns its info.

        A file replaced or removed while the backup is written (a concurrent compression or
        retention) makes that attempt fail; the backup is then started again, up to
        ``CREATE_ATTEMPTS`` times.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        attempt = 1
        while True:
            try:
                return self._create_once()
            except (BackupSourceChangedError, FileNotFoundError) as exc:
                if attempt >= CREATE_ATTEMPTS:
                    raise BackupError(f"the archive kept changing: {exc}", self.directory) from exc
                log.warning("backup attempt %d: %s; starting again", attempt, exc)
                attempt += 1

    def _create_once(self) -> BackupInfo:
        sources = backup_sources(self._s)
        entries = [
            BackupEntry(name, path.stat().st_size, sha256_file(path)) for name, path in sources
        ]
        created_at = kst_iso(self._clock.now_ns())
        final = self._new_name()
        manifest = {
            "format": FORMAT,
            "created_at": created_at,
            "version": __version__,
            "files": [e.__dict__ for e in entries],
        }
        with replacing(final) as raw:
            self._write_tar(raw, manifest, sources, entries)
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
                    reader = HashingReader(fh)
                    tar.addfile(info, reader)
                if reader.digest.hexdigest() != entry.sha256:
                    raise BackupSourceChangedError(f"{name} changed while it was read", path)

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
        with open_tar(path) as (tar, _raw):
            manifest = read_manifest(tar, path)
        return BackupInfo(
            path, manifest["created_at"], entries_of(manifest, path), path.stat().st_size
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
        with open_tar(path) as (tar, _raw):
            manifest = read_manifest(tar, path)
            expected = {e.path: e for e in entries_of(manifest, path)}
            seen: set[str] = set()
            for member, digest, size in hashed_members(tar, path):
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
        with open_tar(path) as (tar, _raw):
            manifest = read_manifest(tar, path)
            entries = {e.path: e for e in entries_of(manifest, path)}
            conflicts: list[Path] = []
            for entry in entries.values():
                dest = destination(roots, entry.path, path)
                if not dest.exists():
                    continue
                if dest.is_file() and sha256_file(dest) == entry.sha256:
                    report.skipped.append(dest)
                else:
                    conflicts.append(dest)
            if conflicts and not force:
                raise RestoreConflictError(path, conflicts)
            skip = set(report.skipped)
            for member in members_after(tar):
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
        dest = destination(roots, member.name, path)
        if dest in skip:
            return
        source = tar.extractfile(member)
        if source is None:
            raise BackupVerifyError(path, [f"{member.name}: unreadable member"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with replacing(dest, temp=temp_name(dest, "restore")) as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != entry.sha256:
                raise BackupVerifyError(path, [f"{member.name}: content differs from the manifest"])
        report.written.append(dest)
