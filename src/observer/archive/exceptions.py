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

from observer.exceptions import ObserverError


class ArchiveError(ObserverError):
    """Base class of every archive error."""


class ArchiveNotAccepting(ArchiveError):
    """The archive does not accept records now (paused by the disk guard, or closed)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"archive not accepting records: {reason}")


class ArchiveLocked(ArchiveError):
    """Another process holds the data directory's lock (one writer per archive)."""

    def __init__(self, data_dir: str, holder: str) -> None:
        self.data_dir = data_dir
        self.holder = holder
        super().__init__(f"data directory {data_dir} is in use by {holder}")


class ArchiveWriteError(ArchiveError):
    """Writing or fsync'ing an archive file failed; the records of that batch were not stored."""

    def __init__(self, path: str, errno: int | None, detail: str) -> None:
        self.path = path
        self.errno = errno
        super().__init__(f"archive write to {path} failed: {detail}")


class ArchiveCompressionError(ArchiveError):
    """A closed hour could not be compressed, or its compressed copy did not verify."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"compressing {path} failed: {detail}")


class ArchiveManifestError(ArchiveError):
    """A manifest file holds a line that is not ``<sha256>  <file name>``."""

    def __init__(self, path: str, line_no: int) -> None:
        self.path = path
        self.line_no = line_no
        super().__init__(f"malformed manifest line {line_no} in {path}")
