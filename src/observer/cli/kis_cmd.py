"""`observer kis ...`: tools for the KIS wire formats."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
import orjson

from observer.archive.quarantine import UNENCODABLE
from observer.kis.frames import DataMessage, Reject, parse_message


@click.group("kis")
def kis() -> None:
    """KIS protocol tools."""


def _lines(files: tuple[str, ...]) -> Iterator[tuple[str, int, str]]:
    """(source name, line number, line without its terminator) from files or stdin."""
    if not files:
        files = ("-",)
    for name in files:
        stream: IO[str]
        if name != "-" and not Path(name).is_file():
            click.echo(f"kis decode: {name}: no such file", err=True)
            raise SystemExit(2)
        with click.open_file(name, "r", encoding="utf-8", errors="replace") as stream:
            label = "<stdin>" if name == "-" else name
            for number, line in enumerate(stream, start=1):
                yield label, number, line.rstrip("\r\n")


@kis.command("decode")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
def decode(files: tuple[str, ...]) -> None:
    """Decode raw WebSocket frames (one per line) into one JSON object per record.

    Records go to stdout as {"tr_id", "symbol", "data", "raw"}; rejected lines are reported
    on stderr with their line number and reason, and make the exit code 1. Control answers
    and PINGPONG lines are recognised and skipped.
    """
    out = sys.stdout.buffer
    records = rejected = lines = 0
    for label, number, line in _lines(files):
        if not line.strip():
            continue
        lines += 1
        message = parse_message(line, 0)
        problems: list[Reject] = []
        if isinstance(message, Reject):
            problems.append(message)
        elif isinstance(message, DataMessage):
            problems.extend(message.rejects)
            for record in message.records:
                obj = {"tr_id": record.tr_id, "symbol": record.symbol, "data": record.data,
                       "raw": record.raw}  # fmt: skip
                try:
                    line_out = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
                except TypeError as exc:  # parsed, but not encodable (e.g. a 25-digit price)
                    problems.append(Reject(f"{UNENCODABLE}: {exc}", record.raw, record.tr_id))
                    continue
                out.write(line_out)
                records += 1
        if problems:
            rejected += 1
            for problem in problems:
                click.echo(f"{label}:{number}: rejected: {problem.reason}", err=True)
    out.flush()
    click.echo(f"{records} records from {lines} lines, {rejected} lines rejected", err=True)
    if rejected:
        raise SystemExit(1)


@kis.command("token")
@click.option("--env-file", type=click.Path(dir_okay=False), help="read settings from this file")
def token_status(env_file: str | None) -> None:
    """Show the token cache (expiry, last issuance, approval key day); never a secret."""
    from observer.cli.context import load_or_exit
    from observer.kis.token import cache_status

    settings = load_or_exit(env_file).settings
    rows = cache_status(settings.token_cache_dir)
    if not rows:
        click.echo(f"no token cache in {settings.token_cache_dir}")
        return
    for row in rows:
        click.echo(orjson.dumps(row).decode())


COMMANDS: list[click.Command] = [kis]
