"""Backups of the closed archive and the universe snapshots, kept by restic off the data volume.

``create`` snapshots the archive directory (closed hours ``*.jsonl.zst`` and the per-day
checksum manifests; the open hour, plain hours and temporary files are excluded) and the
universe directory, then applies retention (``forget --prune``, keeping
``OBSERVER_RETENTION_BACKUP_DAYS`` of snapshots) and reads back a subset of the repository
(``check --read-data-subset``). ``restore`` restores a snapshot into a staging directory, checks
it is complete (every file of the snapshot, at its size; restic verifies the content), and only
then moves the files into place: a failed or refused restore changes nothing.

The database is not backed up: ``observer db load`` rebuilds it from the archive.
"""

from __future__ import annotations

import builtins
import logging
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from observer.archive.compress import sha256_file
from observer.clock import Clock
from observer.config.settings import Settings
from observer.durable import replacing, temp_name
from observer.metrics import Metrics
from observer.ops.exceptions import BackupError, BackupVerifyError, RestoreConflictError
from observer.ops.restic import HOST, TAG, Restic

log = logging.getLogger(__name__)

AREAS = ("assets", "universe")
ROOT_TAG = "root."  # root.assets:/abs/path tags name each backed-up directory
EXCLUDES = ("*.jsonl", ".*", "*.tmp", "*.partial")
STAGING_NAME = ".observer-restore-staging"


@dataclass
class BackupInfo:
    """One snapshot of the repository."""

    snapshot: str
    created_at: str
    files: int
    size: int
    roots: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "created_at": self.created_at,
            "files": self.files,
            "size": self.size,
            "roots": self.roots,
        }


@dataclass
class RestoreReport:
    """What a restore moved into place and skipped."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    overwritten: list[Path] = field(default_factory=list)


def _roots_of(tags: list[str]) -> dict[str, str]:
    roots = {}
    for tag in tags:
        if tag.startswith(ROOT_TAG) and ":" in tag:
            area, path = tag[len(ROOT_TAG) :].split(":", 1)
            roots[area] = path
    return roots


@dataclass(eq=False, repr=False)
class BackupStore:
    """Creates, lists, verifies and restores the snapshots of the configured repository."""

    settings: Settings
    clock: Clock
    metrics: Metrics | None = None

    @cached_property
    def restic(self) -> Restic:
        return Restic(self.settings)

    def sources(self) -> dict[str, Path]:
        """The directories a backup takes (those that exist)."""
        found = {"assets": self.settings.assets_dir, "universe": self.settings.snapshot_dir}
        return {area: path for area, path in found.items() if path.is_dir()}

    # -- create --------------------------------------------------------------------------
    def create(self) -> BackupInfo:
        """Snapshot the closed archive and the universe, apply retention, check a subset."""
        restic = self.restic
        restic.ensure_repository()
        sources = self.sources()
        if not sources:
            raise BackupError("nothing to back up: neither the archive nor the universe exists")
        args = ["backup", "--host", HOST, "--tag", TAG]
        for area, path in sources.items():
            args += ["--tag", f"{ROOT_TAG}{area}:{path}"]
        for pattern in EXCLUDES:
            args += ["--exclude", pattern]
        summary = restic.json_lines([*args, *(str(p) for p in sources.values())])
        done = next((s for s in summary if s.get("message_type") == "summary"), None)
        if done is None:
            raise BackupError("restic backup printed no summary")
        keep = f"{self.settings.retention_backup_days}d"
        forget = ["forget", "--prune", "--tag", TAG, "--group-by", "host,tags"]
        restic.run([*forget, "--keep-within", keep, "--keep-last", "1"])
        restic.run(["check", f"--read-data-subset={restic.check_subset}"])
        if self.metrics is not None:
            self.metrics.backup_last_success.set(self.clock.now_ns() / 1e9)
        info = self.info(str(done["snapshot_id"]))
        log.info(
            "backup snapshot %s: %d file(s), %d new byte(s) added",
            info.snapshot,
            info.files,
            int(done.get("data_added", 0)),
        )
        return info

    # -- list ----------------------------------------------------------------------------
    def _snapshots(self) -> builtins.list[dict[str, Any]]:
        found = self.restic.json(["snapshots", "--tag", TAG])
        return list(found or [])

    def list(self) -> builtins.list[BackupInfo]:
        """Every snapshot, oldest first."""
        return [self._info_of(s) for s in self._snapshots()]

    def _info_of(self, snapshot: dict[str, Any]) -> BackupInfo:
        files = self._files(str(snapshot["id"]))
        return BackupInfo(
            str(snapshot.get("short_id") or snapshot["id"])[:8],
            str(snapshot.get("time", "")),
            len(files),
            sum(int(node.get("size", 0)) for node in files),
            _roots_of(list(snapshot.get("tags") or [])),
        )

    def _files(self, snapshot: str) -> builtins.list[dict[str, Any]]:
        """The file nodes of a snapshot (``restic ls``: path, size, ...)."""
        return [
            node
            for node in self.restic.json_lines(["ls", snapshot])
            if node.get("struct_type") == "node" and node.get("type") == "file"
        ]

    def info(self, name: str) -> BackupInfo:
        """One snapshot by id, short id or ``latest``."""
        return self._info_of(self._snapshot(name))

    def _snapshot(self, name: str) -> dict[str, Any]:
        snapshots = self._snapshots()
        if name == "latest" and snapshots:
            return snapshots[-1]
        for snapshot in snapshots:
            if str(snapshot["id"]).startswith(name) and name:
                return snapshot
        raise BackupError(f"no such snapshot: {name}")

    # -- verify --------------------------------------------------------------------------
    def verify(self, name: str) -> BackupInfo:
        """Check the repository's structure and read back a subset of its data."""
        snapshot = self._snapshot(name)
        result = self.restic.run(
            ["check", f"--read-data-subset={self.restic.check_subset}"], check=False
        )
        if result.returncode != 0:
            problems = [line for line in result.stderr.splitlines() if line.strip()][-10:]
            raise BackupVerifyError(
                Path(str(snapshot["id"])[:8]), problems or ["restic check failed"]
            )
        return self._info_of(snapshot)

    # -- restore -------------------------------------------------------------------------
    def restore(self, name: str, target: Path | None = None, force: bool = False) -> RestoreReport:
        """Restore a snapshot into the configured directories (or ``target``/assets|universe)
        through a staging directory; identical files are skipped, differing ones stop the
        restore before anything moves unless ``force``."""
        snapshot = self._snapshot(name)
        roots = _roots_of(list(snapshot.get("tags") or []))
        if not roots:
            raise BackupError(f"snapshot {name} has no root tags; not an Observer backup")
        dest_roots = self._dest_roots(target)
        staging = (target or self.settings.data_dir) / STAGING_NAME
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            self.restic.run(["restore", str(snapshot["id"]), "--target", str(staging), "--verify"])
            plan = self._plan(str(snapshot["id"]), staging, roots, dest_roots)
            return _apply(plan, force, Path(str(snapshot["id"])[:8]))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _dest_roots(self, target: Path | None) -> dict[str, Path]:
        if target is None:
            return {"assets": self.settings.assets_dir, "universe": self.settings.snapshot_dir}
        return {area: target / area for area in AREAS}

    def _plan(
        self, snapshot: str, staging: Path, roots: dict[str, str], dest: dict[str, Path]
    ) -> builtins.list[tuple[Path, Path]]:
        """(staged file, destination) for every file of the snapshot; raises when one is
        missing from the staging directory or has another size."""
        problems: builtins.list[str] = []
        plan: builtins.list[tuple[Path, Path]] = []
        for node in self._files(snapshot):
            path = PurePosixPath(str(node["path"]))
            staged = staging / path.relative_to("/")
            area = next((a for a, r in roots.items() if PurePosixPath(r) in path.parents), None)
            if area is None or area not in dest:
                problems.append(f"{path}: outside the snapshot's roots")
                continue
            if not staged.is_file() or staged.stat().st_size != int(node.get("size", -1)):
                problems.append(f"{path}: missing or incomplete after the restore")
                continue
            plan.append((staged, dest[area] / path.relative_to(roots[area])))
        if problems:
            raise BackupVerifyError(Path(snapshot[:8]), problems)
        return plan


def _apply(plan: builtins.list[tuple[Path, Path]], force: bool, label: Path) -> RestoreReport:
    """Move a complete, verified staging directory into place."""
    report = RestoreReport()
    conflicts: builtins.list[Path] = []
    moves: builtins.list[tuple[Path, Path]] = []
    for staged, dest in plan:
        if dest.exists():
            if dest.is_file() and sha256_file(dest) == sha256_file(staged):
                report.skipped.append(dest)
                continue
            conflicts.append(dest)
        moves.append((staged, dest))
    if conflicts and not force:
        raise RestoreConflictError(label, conflicts)
    for staged, dest in moves:
        _move(staged, dest)
        report.written.append(dest)
    report.overwritten = conflicts  # every conflict was moved (force), in plan order
    log.info(
        "restored %s: %d written, %d identical skipped, %d overwritten",
        label,
        len(report.written),
        len(report.skipped),
        len(report.overwritten),
    )
    return report


def _move(staged: Path, dest: Path) -> None:
    """Put one file in place durably (copied under a temporary name first, since the staging
    directory may be on another filesystem)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("rb") as source, replacing(dest, temp=temp_name(dest, "restore")) as target:
        shutil.copyfileobj(source, target)
