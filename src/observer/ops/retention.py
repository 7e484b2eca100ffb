"""Retention: what expires, per class of file, and removing exactly that.

Every class has its own setting (``OBSERVER_RETENTION_*``). The age of a file is the end of
the period its name says (``scalp_20260105_09.jsonl`` covers 09:00-10:00 KST, a name with
``YYYYMMDD`` covers that day); names without a date fall back to the modification time. A file
expires when the end of its period is at least the retention period before the clock's now.

Uncompressed archive hours are never deleted: once older than ``retention_plain_hours`` they
are compressed with the archive's compressor, and only compressed hours ever expire (an
hour compressed by a pass is at the earliest removed by the next one, after a backup ran).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from observer.archive.files import scan
from observer.archive.paths import manifest_day, parse_name
from observer.clock import KST, Clock
from observer.config.settings import Settings
from observer.metrics import Metrics

log = logging.getLogger(__name__)

DAY_IN_NAME = re.compile(r"(?<!\d)(?P<day>20\d{6})(?!\d)")

# A compressor turns a closed plain hour into its .zst (plus its manifest line) and removes
# the plain file; it is the archive's, injected so retention never re-implements it.
Compressor = Callable[[Path], Any]


@dataclass
class RetentionReport:
    """What one retention pass did, per class."""

    removed: dict[str, list[str]] = field(default_factory=dict)
    compressed: list[str] = field(default_factory=list)
    kept_plain: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    partitions_skipped: str | None = None

    def count(self) -> int:
        return sum(len(v) for v in self.removed.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "removed": {k: len(v) for k, v in self.removed.items()},
            "compressed": len(self.compressed),
            "kept_plain": len(self.kept_plain),
            "partitions_dropped": len(self.partitions),
            "partitions_skipped": self.partitions_skipped,
            "errors": list(self.errors),
        }


def parse_day(text: str) -> datetime | None:
    """``YYYYMMDD`` as midnight KST, or None when it is not a date."""
    try:
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=KST)
    except ValueError:
        return None


def period_end(path: Path) -> datetime:
    """The end of the period a file covers, from its name, else its modification time."""
    name = path.name
    archived = parse_name(name)
    if archived:
        day = parse_day(archived.day)
        if day is not None:
            return day + timedelta(hours=archived.hour + 1)
    found = DAY_IN_NAME.search(name)
    for text in (manifest_day(name), found["day"] if found else None):
        day = parse_day(text) if text else None
        if day is not None:
            return day + timedelta(days=1)
    return datetime.fromtimestamp(path.stat().st_mtime, KST)


def expired(path: Path, now: datetime, keep: timedelta) -> bool:
    """True when the file's period ended at least ``keep`` before ``now``."""
    return period_end(path) + keep <= now


def _files(directory: Path, recursive: bool = False) -> Iterator[Path]:
    if not directory.is_dir():
        return
    pattern = "**/*" if recursive else "*"
    for path in sorted(directory.glob(pattern)):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
            yield path


def _is_plain_hour(path: Path) -> bool:
    archived = parse_name(path.name)
    return archived is not None and not archived.compressed


def _is_compressed_hour(path: Path) -> bool:
    archived = parse_name(path.name)
    return archived is not None and archived.compressed


@dataclass(eq=False, repr=False)
class RetentionRunner:
    """Applies every retention class of the settings at the clock's now."""

    settings: Settings
    clock: Clock
    metrics: Metrics | None = None
    _: KW_ONLY
    compressor: Compressor | None = None

    def file_classes(self) -> list[tuple[str, Path, timedelta, Callable[[Path], bool], bool]]:
        """(class, directory, keep, selector, recursive) for every class that deletes files."""
        s = self.settings
        return [
            (
                "archive",
                s.assets_dir,
                timedelta(days=s.retention_archive_days),
                _is_compressed_hour,
                False,
            ),
            (
                "quarantine",
                s.quarantine_dir,
                timedelta(days=s.retention_quarantine_days),
                _any,
                True,
            ),
            ("snapshot", s.snapshot_dir, timedelta(days=s.retention_snapshot_days), _any, True),
            ("log", s.log_dir, timedelta(days=s.retention_log_days), _is_log, True),
            # the tar backups of the earlier format, which restic snapshots replaced, age out
            ("backup", s.backup_dir, timedelta(days=s.retention_backup_days), _is_backup, False),
        ]

    def run(self) -> RetentionReport:
        """One pass over the files (the database partitions are separate: see drop_partitions)."""
        report = RetentionReport()
        now = self.clock.now()
        self._compress_plain(now, report)
        for name, directory, keep, selector, recursive in self.file_classes():
            for path in _files(directory, recursive):
                just_compressed = path.name.removesuffix(".zst") in report.compressed
                if selector(path) and expired(path, now, keep) and not just_compressed:
                    self._remove(name, path, report)
        self._remove_orphan_manifests(now, report)
        log.info(
            "retention: removed %d file(s), compressed %d hour(s), %d error(s)",
            report.count(),
            len(report.compressed),
            len(report.errors),
        )
        return report

    def _compress_plain(self, now: datetime, report: RetentionReport) -> None:
        keep = timedelta(hours=self.settings.retention_plain_hours)
        for path in _files(self.settings.assets_dir):
            if not _is_plain_hour(path) or not expired(path, now, keep):
                continue
            if self.compressor is None:
                report.kept_plain.append(path.name)
                continue
            try:
                self.compressor(path)
            except Exception as exc:  # one bad hour must not stop the others; it is reported
                log.error("retention: cannot compress %s: %s", path.name, exc)
                report.errors.append(f"compress {path.name}: {exc}")
                continue
            report.compressed.append(path.name)

    def _remove_orphan_manifests(self, now: datetime, report: RetentionReport) -> None:
        """A day's checksum manifest goes once the day expired and none of its hours remain."""
        keep = timedelta(days=self.settings.retention_archive_days)
        assets = self.settings.assets_dir
        for path in _files(assets):
            day = manifest_day(path.name)
            if day is None or not expired(path, now, keep):
                continue
            if any(name.day == day for name, _ in scan(assets)):
                continue
            self._remove("archive_manifest", path, report)

    def _remove(self, name: str, path: Path, report: RetentionReport) -> None:
        if _is_plain_hour(path):  # whatever the class (directories may overlap): never deleted
            log.warning("retention: %s looks like an uncompressed archive hour; kept", path)
            return
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("retention: cannot remove %s: %s", path, exc.strerror)
            report.errors.append(f"remove {path.name}: {exc.strerror}")
            return
        report.removed.setdefault(name, []).append(str(path))
        if self.metrics is not None:
            self.metrics.retention_removed.labels(name).inc()
        log.debug("retention: removed %s (%s)", path, name)


def _any(_path: Path) -> bool:
    return True


def _is_log(path: Path) -> bool:
    return path.suffix == ".log" or ".log." in path.name


def _is_backup(path: Path) -> bool:
    return path.name.startswith("observer-backup-") and not path.name.endswith(".tmp")
