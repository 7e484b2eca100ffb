"""Entry point of the ``observer`` command.

Each area contributes its commands from its own module (``COMMANDS``), so the command tree is
assembled here and nowhere else.
"""

from __future__ import annotations

import click

from observer import __version__
from observer.cli import (
    config_cmd,
    db_cmd,
    gaps_cmd,
    kis_cmd,
    market_cmd,
    ops_cmd,
    run_cmd,
    sim_cmd,
    verify_cmd,
)

AREAS = (run_cmd, config_cmd, kis_cmd, sim_cmd, market_cmd, db_cmd, verify_cmd, ops_cmd, gaps_cmd)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="observer")
def cli() -> None:
    """Observer: a crash-safe market-data observer for KOSPI/KOSDAQ."""


def build() -> click.Group:
    for area in AREAS:
        for command in area.COMMANDS:
            cli.add_command(command)
    return cli


def main() -> None:
    build()(prog_name="observer")
