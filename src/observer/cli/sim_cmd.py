"""``observer sim``: run the KIS simulator as a standalone server on loopback."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from observer.cli.context import clock_from, load_or_exit
from observer.cli.logging_setup import configure_logging
from observer.config.redact import Redactor
from observer.sim.exceptions import SimulatorError
from observer.sim.server import SimServer


async def _serve(host: str, port: int, env_file: str | None) -> int:
    settings = load_or_exit(env_file).settings
    clock = clock_from(settings)
    redactor = Redactor(settings.secret_values())
    configure_logging(settings, clock, redactor, to_file=False, stream=sys.stderr)
    server = SimServer(settings, clock)
    try:
        await server.start(host, port)
    except SimulatorError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    click.echo(f"KIS_BASE_URL={server.base_url}")
    click.echo(f"KIS_WS_URL={server.ws_url}")
    click.echo(f"KIS_MASTER_URL={server.master_url}")
    click.echo(
        f"simulator ready: {len(server.market.issues)} issues, seed {settings.sim_seed}, "
        f"clock {clock.now().isoformat(timespec='seconds')} x{clock.speed:g}",
        err=True,
    )
    await stop.wait()
    await server.stop()
    click.echo("simulator stopped", err=True)
    return 0


@click.command("sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
def sim_command(host: str, port: int, env_file: str | None) -> None:
    """Serve the KIS simulator (REST, /tryitout WebSocket, master files) until SIGINT/SIGTERM."""
    raise SystemExit(asyncio.run(_serve(host, port, env_file)))


COMMANDS: list[click.Command] = [sim_command]
