"""Errors of the operations package.

ObserverError
 +-- OpsError                    anything operations could not do
      +-- BackupError            a backup cannot be created, read or restored (``path``)
      |    +-- BackupVerifyError     members missing, extra or not matching the manifest
      |    +-- RestoreConflictError  restore would overwrite differing files (``conflicts``)
      +-- ExportError            an export cannot be written (``path``)
      +-- StatusUnavailableError the service's /status cannot be fetched (``url``)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from observer.exceptions import ObserverError


class OpsError(ObserverError):
    """An operations task failed."""


class BackupError(OpsError):
    """A backup cannot be created, read or restored."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        self.path = path
        super().__init__(f"{message} ({path})" if path is not None else message)


class BackupVerifyError(BackupError):
    """The backup's members do not match its manifest."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"backup does not match its manifest: {'; '.join(problems)}", path)


class RestoreConflictError(BackupError):
    """Restoring would overwrite files whose content differs (use --force to overwrite)."""

    def __init__(self, path: Path, conflicts: list[Path]) -> None:
        self.conflicts = conflicts
        shown = ", ".join(str(c) for c in conflicts[:5])
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        super().__init__(
            f"{len(conflicts)} existing file(s) differ from the backup: {shown}{more}", path
        )


class ExportError(OpsError):
    """An export cannot be written."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        self.path = path
        super().__init__(f"{message} ({path})" if path is not None else message)


@dataclass(eq=False)
class StatusUnavailableError(OpsError):
    """The running service's /status cannot be fetched."""

    template = "cannot reach the service at {url}: {reason}"
    url: str
    reason: str
