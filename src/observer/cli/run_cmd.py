"""``observer run``: the service, until SIGTERM or SIGINT (then flush, fsync, exit 0)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import click

from observer.archive.exceptions import ArchiveError
from observer.cli.context import EXIT_CONFIG, clock_from, load_or_exit
from observer.cli.logging_setup import configure_logging
from observer.cli.preflight import preflight_problems
from observer.config import ConfigError
from observer.config.redact import Redactor
from observer.metrics import Metrics
from observer.service import Service

log = logging.getLogger(__name__)
SHUTDOWN_DEADLINE_SECONDS = 9.0


async def _serve(service: Service, stop: asyncio.Event) -> list[str]:
    """Run until ``stop``; a configuration or environment problem at start is returned."""
    try:
        try:
            await service.start()
        except ConfigError as err:
            return list(err.problems)
        except ArchiveError as err:  # the data directory is locked, read-only or unreadable
            return [f"OBSERVER_DATA_DIR: {err}"]
        await stop.wait()
        return []
    finally:
        log.info("stopping: flushing the archive")
        try:
            await asyncio.wait_for(service.stop(), SHUTDOWN_DEADLINE_SECONDS)
        except TimeoutError:
            log.error("shutdown did not finish within %.0f s", SHUTDOWN_DEADLINE_SECONDS)


def _refuse(problems: list[str]) -> int:
    """One line per problem on stderr (no traceback: these are not bugs), exit code 2."""
    for problem in problems:
        click.echo(f"config error: {problem}", err=True)
    return EXIT_CONFIG


async def _main(env_file: str | None) -> int:
    loaded = load_or_exit(env_file)
    settings = loaded.settings
    problems = preflight_problems(
        settings, lock=True
    )  # before logging: the log directory may be the problem
    if problems:
        return _refuse(problems)
    clock = clock_from(settings)
    redactor = Redactor(settings.secret_values())
    configure_logging(settings, clock, redactor)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    service = Service(settings, clock, Metrics(), redactor)
    problems = await _serve(service, stop)
    if problems:
        for problem in problems:
            log.error("start refused: %s", problem)
        return _refuse(problems)
    log.info("observer stopped")
    return 0


@click.command("run")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
def run_command(env_file: str | None) -> None:
    """Run the service: collect, archive, load and serve the HTTP API."""
    sys.exit(asyncio.run(_main(env_file)))


COMMANDS: list[click.Command] = [run_command]
