"""`observer` commands of this area (filled in by its capability)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
