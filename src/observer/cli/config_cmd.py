"""``observer config``: print the effective configuration, or only validate it."""

from __future__ import annotations

import sys

import click

from observer.archive.lock import current_holder
from observer.cli.context import EXIT_CONFIG, load_or_exit
from observer.cli.preflight import preflight_problems
from observer.config.settings import ALIASES, SECRET_VARS


@click.command("config")
@click.option("--check", is_flag=True, help="Only validate; print problems, exit 2 on any.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
def config_command(check: bool, env_file: str | None) -> None:
    """Print every setting with its value and where it came from (secrets redacted)."""
    loaded = load_or_exit(env_file)
    settings = loaded.settings
    problems = preflight_problems(settings)
    if not check:
        dumped = settings.model_dump(by_alias=True)
        width = max(len(alias) for alias in ALIASES)
        click.echo(f"deployment: {settings.deployment}   source: {settings.source}")
        for alias in sorted(ALIASES):
            value = dumped.get(alias)
            if alias in SECRET_VARS:
                shown = "<set, redacted>" if value else "<not set>"
            else:
                shown = "" if value is None else str(value)
            origin: str = loaded.sources.get(alias, "default")
            if alias == "KIS_RATE_LIMIT_PER_SECOND":
                shown = f"{settings.rate_limit_per_second:g}"
                origin = (
                    origin
                    if settings.kis_rate_limit > 0
                    else f"derived (KIS_ENV={settings.kis_env})"
                )
            click.echo(f"{alias:<{width}}  {shown:<60}  {origin}")
    for problem in problems:
        click.echo(f"config error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_CONFIG)
    if check:
        click.echo(f"configuration OK ({settings.deployment}, source {settings.source})")
        holder = current_holder(settings.data_dir)
        if holder is not None:  # not a configuration problem: a service may well be running
            click.echo(f"note: data directory {settings.data_dir} is in use by {holder}")


COMMANDS: list[click.Command] = [config_command]
