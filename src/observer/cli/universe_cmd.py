"""``observer universe build|show``: the daily universe from the command line.

``build`` uses the configured source: KIS when credentials are configured, otherwise the
embedded simulator, started in-process on loopback exactly as ``observer run`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime

import aiohttp
import click

from observer.cli.context import (
    EXIT_CONFIG,
    archive_lock_or_exit,
    clock_from,
    exit_with,
    load_or_exit,
)
from observer.clock import Clock
from observer.config.redact import Redactor
from observer.config.settings import Settings
from observer.kis.account import KisAccount
from observer.market.exceptions import SnapshotError, UniverseError
from observer.market.runtime import accounts_for
from observer.market.snapshots import read_snapshot, snapshot_days, snapshot_path
from observer.market.sources import AccountQuoteSource
from observer.market.universe import UniverseBuilder
from observer.metrics import Metrics

EXIT_FAILED = 1


@contextlib.asynccontextmanager
async def source_account(
    settings: Settings, clock: Clock, metrics: Metrics
) -> AsyncIterator[tuple[KisAccount, str]]:
    """One KIS account for the configured source (starting the embedded simulator if needed).

    Yields (account, source label).
    """
    redactor = Redactor(settings.secret_values())
    async with contextlib.AsyncExitStack() as stack:
        if settings.source != "kis":
            from observer.sim.server import SimServer

            sim = SimServer(settings, clock)
            await sim.start("127.0.0.1", 0)
            stack.push_async_callback(sim.stop)
            settings = settings.model_copy(
                update={
                    "kis_base_url": sim.base_url,
                    "kis_ws_url": sim.ws_url,
                    "kis_master_url": sim.master_url,
                }
            )
        http = await stack.enter_async_context(aiohttp.ClientSession())
        account = accounts_for(settings, clock, metrics, redactor, http)[0]
        yield account, "kis" if settings.source == "kis" else "sim"


async def _build(settings: Settings, day: date, force: bool) -> int:
    clock = clock_from(settings)
    metrics = Metrics()
    async with source_account(settings, clock, metrics) as (account, label):
        source = AccountQuoteSource(account, clock)
        builder = UniverseBuilder(settings, clock, source, source_label=label)
        try:
            outcome = await builder.ensure(day, rebuild=force)
        except UniverseError as exc:
            click.echo(f"universe build failed: {exc}", err=True)
            return EXIT_FAILED
    universe = outcome.universe
    if universe.fallback:
        click.echo(f"build failed; using the snapshot of {universe.fallback_from} (fallback)")
    elif not outcome.built:
        click.echo("today's snapshot already exists (use --force to rebuild)")
    _summary(settings, universe.day, universe.source, len(universe.symbols), universe.counts)
    for event in outcome.events:
        data = event.data
        if data.get("action") in ("count_warning", "fallback"):
            click.echo(f"warning: {data}")
    return 0


def _summary(settings: Settings, day: date, source: str, size: int, counts: dict[str, int]) -> None:
    click.echo(f"universe {day.isoformat()}: {size} symbols (source {source})")
    for step in ("master", "tradable", "types", "price"):
        if step in counts:
            click.echo(f"  after {step:<9} {counts[step]:>6}")
    click.echo(f"  snapshot: {snapshot_path(settings.snapshot_dir, day)}")


@click.group("universe")
def universe_group() -> None:
    """The daily universe: build it now, or show a stored snapshot."""


@universe_group.command("build")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day (default: today).")
@click.option("--force", is_flag=True, help="Rebuild even if the day's snapshot exists.")
def build_command(day: datetime | None, force: bool) -> None:
    """Build the day's universe from the master files and quotes, and store its snapshot."""
    settings = load_or_exit().settings
    if settings.source == "replay":
        exit_with(
            "config error: OBSERVER_SOURCE=replay has no live source to build from", EXIT_CONFIG
        )
    if settings.source == "kis" and not settings.app_credentials():
        exit_with(
            "config error: OBSERVER_SOURCE=kis needs KIS_APP_KEY and KIS_APP_SECRET", EXIT_CONFIG
        )
    chosen = day.date() if day is not None else clock_from(settings).now().date()
    hint = "the running service builds the universe itself at OBSERVER_UNIVERSE_BUILD_TIME"
    with archive_lock_or_exit(settings.data_dir, "observer universe build", hint):
        code = asyncio.run(_build(settings, chosen, force))
    sys.exit(code)


@universe_group.command("show")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day (default: newest).")
@click.option("--symbols", is_flag=True, help="List every symbol with market and name.")
def show_command(day: datetime | None, symbols: bool) -> None:
    """Show a stored snapshot: counts after each filter step, settings, symbols."""
    settings = load_or_exit().settings
    days = snapshot_days(settings.snapshot_dir)
    chosen = day.date() if day is not None else (days[-1] if days else None)
    if chosen is None:
        exit_with(f"no universe snapshot in {settings.snapshot_dir}", EXIT_FAILED)
    try:
        universe = read_snapshot(settings.snapshot_dir, chosen)
    except SnapshotError as exc:
        exit_with(str(exc), EXIT_FAILED)
    _summary(settings, universe.day, universe.source, len(universe.symbols), universe.counts)
    click.echo(f"  generated at {universe.generated_at}; settings {universe.settings}")
    if symbols:
        for s in universe.symbols:
            click.echo(f"{s.code}  {s.market:<6}  {s.prev_close:>9}  {s.name}")
