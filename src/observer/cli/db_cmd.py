"""``observer db migrate|status|load`` and ``observer import``: the PostgreSQL store."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import click

from observer.cli.context import exit_with, load_or_exit
from observer.store.exceptions import StoreError

if TYPE_CHECKING:
    from observer.store.importer import ImportSummary

EXIT_STORE = 1


@click.group("db")
def db_group() -> None:
    """The PostgreSQL store: schema migrations, status and the archive loader."""


@db_group.command("migrate")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
def migrate_command(env_file: str | None) -> None:
    """Create the database if missing and apply pending migrations (safe to run concurrently)."""
    from observer.store.migrations import migrate

    settings = load_or_exit(env_file).settings
    try:
        report = asyncio.run(migrate(settings))
    except StoreError as err:
        exit_with(f"database error: {err}", EXIT_STORE)
    if report.created_database:
        click.echo(f"created database {report.database}")
    for name in report.applied:
        click.echo(f"applied {name}")
    click.echo(
        f"database {report.database}: {len(report.applied)} applied, "
        f"{len(report.already_applied)} already applied"
    )


def _stream_line(info: dict[str, Any]) -> str:
    if info["file"] is None and info["archive_last_seq"] is None:
        return "nothing archived or loaded yet"
    where = f"{info['file']}@{info['offset']}" if info["file"] else "not started"
    lag = info["lag_records"]
    return (
        f"checkpoint {where}  loaded seq {info['last_seq']}  "
        f"archive seq {info['archive_last_seq']}  "
        f"lag {'unknown' if lag is None else lag} records  rejected {info['rejected']}"
    )


@db_group.command("status")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
def status_command(env_file: str | None) -> None:
    """Applied migrations, load checkpoints and lag per stream, row counts."""
    from observer.archive.files import newest_seq
    from observer.pipeline.record import STREAMS
    from observer.store.inspect import database_status

    settings = load_or_exit(env_file).settings
    newest: dict[str, int | None] = {s: newest_seq(settings.assets_dir, s) for s in STREAMS}
    try:
        status: dict[str, Any] = asyncio.run(database_status(settings, newest))
    except StoreError as err:
        exit_with(f"database error: {err}", EXIT_STORE)
    click.echo(f"database {settings.db_dsn_redacted}")
    click.echo("migrations:")
    for version, checksum, applied_at in status["migrations"]:
        click.echo(f"  {version:<24} {checksum[:12]}  {applied_at}")
    if status["pending"]:
        click.echo(f"  pending: {', '.join(status['pending'])}")
    click.echo("streams:")
    for stream, info in status["streams"].items():
        click.echo(f"  {stream:<7} {_stream_line(info)}")
    click.echo("rows:")
    for table, count in status["rows"].items():
        click.echo(f"  {table:<17} {count}")


async def _load(settings: Any, follow: bool) -> dict[str, int]:
    import signal

    from observer.archive.reader import ArchiveReader
    from observer.cli.context import clock_from
    from observer.metrics import Metrics
    from observer.store.loader import ArchiveLoader

    loader = ArchiveLoader(
        settings, clock_from(settings), Metrics(), ArchiveReader(settings.assets_dir)
    )
    if not follow:
        return await loader.run_once()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, loader.stop)
    await loader.run_forever()
    return dict(loader.rows)


@db_group.command("load")
@click.option("--follow", is_flag=True, help="Keep following the archive until SIGTERM/SIGINT.")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
def load_command(follow: bool, env_file: str | None) -> None:
    """Load the archive into PostgreSQL from the stored checkpoints (exactly once)."""
    from observer.cli.logging_setup import configure_logging
    from observer.config.redact import Redactor

    settings = load_or_exit(env_file).settings
    from observer.cli.context import clock_from

    configure_logging(settings, clock_from(settings), Redactor(settings.secret_values()))
    try:
        counts = asyncio.run(_load(settings, follow))
    except StoreError as err:
        exit_with(f"database error: {err}", EXIT_STORE)
    shown = ", ".join(f"{table} {count}" for table, count in sorted(counts.items()))
    click.echo(f"loaded: {shown or 'nothing new'}")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read variables from this file.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    help="Write each rejected line with its reason here (default: import-rejects-<time>.jsonl).",
)
def import_command(paths: tuple[str, ...], env_file: str | None, rejects: str | None) -> None:
    """Load archive files/directories (plain or .jsonl.zst) and the earlier system's JSONL.

    Exits 1 when every line was rejected."""
    import time
    from pathlib import Path

    from observer.store.importer import ArchiveImporter, import_files

    settings = load_or_exit(env_file).settings
    chosen = [Path(p) for p in paths]
    total = sum(p.stat().st_size for p in import_files(chosen))
    try:
        with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
            rejects_path = Path(rejects or time.strftime("import-rejects-%Y%m%dT%H%M%S.jsonl"))
            importer = ArchiveImporter(settings, progress=bar.update, rejects_path=rejects_path)
            summary = asyncio.run(importer.run(chosen))
    except StoreError as err:
        exit_with(f"database error: {err}", EXIT_STORE)
    for line in _describe(summary):
        click.echo(line)
    if summary.unreadable_files or summary.all_rejected:
        sys.exit(EXIT_STORE)


def _describe(summary: ImportSummary) -> list[str]:
    """An import summary as lines for the terminal."""
    from observer.store.importer import PRIMARY_TABLES

    loaded = ", ".join(f"{t} {summary.loaded[t]:,}" for t in PRIMARY_TABLES if summary.loaded[t])
    out = [
        f"imported {summary.files} file(s), {summary.lines:,} lines: "
        f"loaded {summary.loaded_lines:,}"
        + (f" ({loaded})" if loaded else "")
        + f", duplicates {summary.duplicates:,}, rejected {sum(summary.rejected.values()):,}"
    ]
    for reason, count in sorted(summary.rejected.items()):
        out.append(f"  rejected {reason}: {count:,}")
    for tr_id, count in sorted(summary.skipped.items()):
        out.append(f"  skipped (no table for {tr_id}): {count:,}")
    for name in summary.unreadable_files:
        out.append(f"  unreadable file: {name}")
    if summary.rejects_file is not None:
        out.append(f"  rejected lines with their reasons: {summary.rejects_file}")
    if summary.all_rejected:
        out.append("every line was rejected")
    return out


COMMANDS: list[click.Command] = [db_group, import_command]
