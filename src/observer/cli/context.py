"""What every command needs first: the settings (or exit code 2 naming each problem)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click

from observer.archive.exceptions import ArchiveLocked
from observer.archive.lock import DataDirLock
from observer.clock import Clock
from observer.config import ConfigError
from observer.config.settings import LoadedSettings, Settings, load_settings

EXIT_CONFIG = 2


def exit_with(message: str, code: int) -> NoReturn:
    """End the command: ``message`` on stderr, exit status ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


def load_or_exit(env_file: str | None = None) -> LoadedSettings:
    """Load the settings; on any problem print one line per problem and exit with code 2."""
    try:
        return load_settings(env_file=env_file)
    except ConfigError as err:
        for problem in err.problems:
            click.echo(f"config error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def clock_from(settings: Settings) -> Clock:
    """The one process clock, from OBSERVER_CLOCK_START / OBSERVER_CLOCK_SPEED."""
    return Clock(settings.clock_start, settings.clock_speed)


@contextlib.contextmanager
def archive_lock_or_exit(data_dir: Path, purpose: str, hint: str = "") -> Iterator[None]:
    """Hold the data directory's lock (one writer per archive) for a command that changes it.

    When another process (a running service) holds it: one line naming the holder, exit 2.
    """
    lock = DataDirLock(data_dir, purpose)
    try:
        lock.acquire()
    except ArchiveLocked as err:
        exit_with(f"refused: {err}{'; ' + hint if hint else ''}", EXIT_CONFIG)
    try:
        yield
    finally:
        lock.release()
