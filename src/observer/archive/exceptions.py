"""Archive errors.

ObserverError
 +-- ArchiveError                 anything the archive cannot do
      +-- ArchiveNotAccepting       submit while paused (disk guard) or closed; carries ``reason``
      +-- ArchiveLocked             another process holds the data directory's lock; carries
      |                             ``data_dir`` and ``holder``
      +-- ArchiveWriteError         a write or fsync failed (ENOSPC, EIO, ...); carries ``path``,
      |                             ``errno``; the partial bytes were cut back, nothing half-written
      +-- ArchiveCompressionError   compressing a closed hour failed or did not verify
      +-- ArchiveManifestError      a manifest line is malformed
"""

from __future__ import annotations

from dataclasses import dataclass

from observer.exceptions import ObserverError


class ArchiveError(ObserverError):
    """Base class of every archive error."""


@dataclass(eq=False)
class ArchiveNotAccepting(ArchiveError):
    """The archive does not accept records now (paused by the disk guard, or closed)."""

    template = "archive not accepting records: {reason}"
    reason: str


@dataclass(eq=False)
class ArchiveLocked(ArchiveError):
    """Another process holds the data directory's lock (one writer per archive)."""

    template = "data directory {data_dir} is in use by {holder}"
    data_dir: str
    holder: str


@dataclass(eq=False)
class ArchiveWriteError(ArchiveError):
    """Writing or fsync'ing an archive file failed; the records of that batch were not stored."""

    template = "archive write to {path} failed: {detail}"
    path: str
    errno: int | None
    detail: str


@dataclass(eq=False)
class ArchiveCompressionError(ArchiveError):
    """A closed hour could not be compressed, or its compressed copy did not verify."""

    template = "compressing {path} failed: {detail}"
    path: str
    detail: str


@dataclass(eq=False)
class ArchiveManifestError(ArchiveError):
    """A manifest file holds a line that is not ``<sha256>  <file name>``."""

    template = "malformed manifest line {line_no} in {path}"
    path: str
    line_no: int
