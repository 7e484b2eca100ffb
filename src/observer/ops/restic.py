"""The one module that runs restic: argv, the password file, JSON answers, errors.

restic keeps the backups: incremental and deduplicated, encrypted client-side, checked with
``restic check --read-data-subset``. The repository (``OBSERVER_BACKUP_REPOSITORY``) lives off
the data volume: an S3-compatible bucket, SFTP or a REST server in production, a local
directory in tests. The password is handed over in a private temporary file, never on the
command line; backend credentials (``AWS_*``) reach restic through the inherited environment.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from observer.config.settings import Settings
from observer.ops.exceptions import BackupError

log = logging.getLogger(__name__)
HOST = "observer"  # one host name for every pod, so snapshots group and find their parent
TAG = "observer"
# restic's answer when no repository exists at the location (0.14 and later).
_NO_REPOSITORY = ("Is there a repository at the following location?", "does not exist")


@dataclass(frozen=True)
class ResticResult:
    """What one restic run printed."""

    returncode: int
    stdout: str
    stderr: str


class Restic:
    """Runs restic against the configured repository."""

    def __init__(self, settings: Settings) -> None:
        repository = settings.backup_repository
        password = settings.backup_password
        if repository is None or not repository.get_secret_value():
            raise BackupError("no backup repository: set OBSERVER_BACKUP_REPOSITORY")
        if password is None or not password.get_secret_value():
            raise BackupError("no backup password: set OBSERVER_BACKUP_PASSWORD")
        binary = shutil.which(settings.restic_binary)
        if binary is None:
            raise BackupError(f"restic not found ({settings.restic_binary}); install restic")
        self._binary = binary
        self._repository = repository.get_secret_value()
        self._password = password.get_secret_value()
        self.check_subset = settings.backup_check_subset

    @contextmanager
    def _password_file(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="observer-restic-") as folder:
            path = Path(folder) / "password"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self._password)
            yield path

    def run(self, args: Sequence[str], *, check: bool = True) -> ResticResult:
        """Run ``restic ARGS`` (repository, password file and cache added); raise on failure
        unless ``check`` is false."""
        cache = Path(tempfile.gettempdir()) / "observer-restic-cache"
        with self._password_file() as password_file:
            argv = [
                self._binary,
                "--repo",
                self._repository,
                "--password-file",
                str(password_file),
                "--cache-dir",
                str(cache),
                "--quiet",
                *args,
            ]
            log.debug("restic %s", args[0] if args else "")
            try:
                done = subprocess.run(  # noqa: S603 - fixed binary, argv list, no shell
                    argv,
                    capture_output=True,
                    text=True,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            except OSError as exc:
                raise BackupError(
                    f"restic {args[0]} could not run: {self._redact(str(exc))}"
                ) from exc
        result = ResticResult(done.returncode, done.stdout, self._redact(done.stderr))
        if check and result.returncode != 0:
            raise BackupError(
                f"restic {args[0]} exited {result.returncode}: {_last_lines(result.stderr)}"
            )
        return result

    def _redact(self, text: str) -> str:
        return text.replace(self._repository, "<repository>").replace(self._password, "***")

    def json(self, args: Sequence[str]) -> Any:
        """Run restic with ``--json`` and parse its answer (one document)."""
        result = self.run([*args, "--json"])
        try:
            return orjson.loads(result.stdout or "null")
        except orjson.JSONDecodeError as exc:
            raise BackupError(f"restic {args[0]} printed no JSON: {exc}") from exc

    def json_lines(self, args: Sequence[str]) -> list[Any]:
        """Run restic with ``--json`` where it prints one document per line."""
        result = self.run([*args, "--json"])
        found = []
        for line in result.stdout.splitlines():
            if line.strip():
                try:
                    found.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise BackupError(f"restic {args[0]} printed no JSON: {exc}") from exc
        return found

    def ensure_repository(self) -> bool:
        """Initialise the repository when none exists there; True when it was created."""
        probe = self.run(["cat", "config"], check=False)
        if probe.returncode == 0:
            return False
        if not any(marker in probe.stderr for marker in _NO_REPOSITORY):
            raise BackupError(f"backup repository unusable: {_last_lines(probe.stderr)}")
        self.run(["init"])
        log.info("initialised the backup repository")
        return True


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no message)"
