"""Operations commands: ``maintenance run``, ``backup create|list|verify|restore``, ``export``
and ``status``. Maintenance and backup commands log to ``maintenance_YYYYMMDD.log``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from observer.cli.context import archive_lock_or_exit, clock_from, exit_with, load_or_exit
from observer.clock import Clock
from observer.config.paths import prepare_paths
from observer.config.redact import Redactor
from observer.config.settings import Settings
from observer.metrics import Metrics
from observer.ops.backup import BackupStore
from observer.ops.exceptions import OpsError
from observer.ops.maintenance import TASKS, run_tasks
from observer.ops.status_report import fetch_status, human_bytes, render_status

EXIT_FAILED = 1
RESTORE_HINT = "stop the service first, or restore elsewhere with --target"


def _maintenance_context(
    env_file: str | None = None, *, prepare: bool = True
) -> tuple[Settings, Clock]:
    from observer.cli.logging_setup import configure_logging

    settings = load_or_exit(env_file).settings
    clock = clock_from(settings)
    configure_logging(
        settings, clock, Redactor(settings.secret_values()), maintenance=True, stream=sys.stderr
    )
    if prepare:
        prepare_paths(settings)
    return settings, clock


def _echo_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


# -- maintenance ---------------------------------------------------------------------------
@click.group("maintenance")
def maintenance_group() -> None:
    """Retention, backups and the disk check (the CronJobs run these)."""


@maintenance_group.command("run")
@click.option(
    "--task",
    "tasks",
    type=click.Choice(TASKS),
    multiple=True,
    help="Task to run (repeatable); default: retention, then backup, then disk.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def maintenance_run(tasks: tuple[str, ...], as_json: bool) -> None:
    """Run maintenance tasks once now; exit code 1 when one failed."""
    settings, clock = _maintenance_context()
    chosen = tasks or TASKS
    with contextlib.ExitStack() as stack:
        if "retention" in chosen:  # compresses and deletes archive files: the one writer only
            stack.enter_context(
                archive_lock_or_exit(
                    settings.data_dir,
                    "observer maintenance run",
                    "the running service does retention itself (OBSERVER_STANDALONE=true);"
                    " stop it first to run it by hand",
                )
            )
        results = asyncio.run(run_tasks(settings, clock, Metrics(), chosen))
    if as_json:
        _echo_json(results)
    else:
        for task, result in results.items():
            state = "ok" if result.get("ok") else "FAILED"
            details = {k: v for k, v in result.items() if k != "ok"}
            click.echo(f"{task}: {state} {orjson.dumps(details, default=str).decode()}")
    if not all(r.get("ok") for r in results.values()):
        sys.exit(EXIT_FAILED)


# -- backup --------------------------------------------------------------------------------
@click.group("backup")
def backup_group() -> None:
    """Backups of the closed archive and the universe snapshots."""


def _store() -> BackupStore:
    # The backup CronJob mounts the data and universe volumes read-only: nothing is prepared.
    settings, clock = _maintenance_context(prepare=False)
    return BackupStore(settings, clock, Metrics())


@backup_group.command("create")
def backup_create() -> None:
    """Snapshot the closed archive and the universe into the restic repository."""
    try:
        info = _store().create()
    except OpsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"snapshot {info.snapshot}  {info.files} file(s)  {human_bytes(info.size)}")


@backup_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def backup_list(as_json: bool) -> None:
    """List the snapshots, oldest first."""
    try:
        infos = _store().list()
    except OpsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json([i.as_dict() for i in infos])
        return
    if not infos:
        click.echo("no backups")
    for info in infos:
        click.echo(
            f"{info.snapshot}  {info.created_at}  {info.files} file(s)  {human_bytes(info.size)}"
        )


@backup_group.command("verify")
@click.argument("backup", default="latest")
def backup_verify(backup: str) -> None:
    """Check the repository and read back a subset of its data (OBSERVER_BACKUP_CHECK_SUBSET)."""
    try:
        info = _store().verify(backup)
    except OpsError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{info.snapshot}: OK, repository checked, {info.files} file(s) in the snapshot")


@backup_group.command("restore")
@click.argument("backup", default="latest")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    help="Restore into DIR/assets and DIR/universe instead of the configured directories.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files that differ.")
def backup_restore(backup: str, target: Path | None, force: bool) -> None:
    """Restore BACKUP via a staging directory; identical files are skipped, differing ones
    need --force; nothing moves unless the whole snapshot restored and verified."""
    settings, clock = _maintenance_context()
    store = BackupStore(settings, clock, Metrics())
    with contextlib.ExitStack() as stack:
        if target is None:  # into the live archive: never under a running service
            stack.enter_context(
                archive_lock_or_exit(settings.data_dir, "observer backup restore", RESTORE_HINT)
            )
        try:
            report = store.restore(backup, target, force)
        except OpsError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"restored {len(report.written)} file(s), skipped {len(report.skipped)} identical,"
        f" overwrote {len(report.overwritten)}"
    )


# -- status --------------------------------------------------------------------------------
@click.command("status")
@click.option(
    "--url", help="Service URL (default: http://OBSERVER_HTTP_HOST:SERVICE_PORT of the settings)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw /status JSON.")
def status_command(url: str | None, as_json: bool) -> None:
    """Show the running service's status."""
    if url is None:
        settings = load_or_exit().settings
        host = settings.http_host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - listening everywhere: ask loopback
            host = "127.0.0.1"
        url = f"http://{host}:{settings.service_port}"
    try:
        status = fetch_status(url)
    except OpsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _echo_json(status)
    else:
        click.echo(render_status(status))


# -- export --------------------------------------------------------------------------------
def _parse_day(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return datetime.strptime(value.replace("-", ""), "%Y%m%d").date()
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@click.command("export")
@click.option("--stream", type=click.Choice(("scalp", "swing", "gaps")), required=True)
@click.option("--from", "start", required=True, callback=_parse_day, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, callback=_parse_day, help="Last day, inclusive.")
@click.option("--symbol", "symbols", multiple=True, help="Only these symbols (repeatable).")
@click.option("--format", "fmt", type=click.Choice(("parquet", "csv")), default="parquet")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--allow-empty", is_flag=True, help="Write an empty file (exit 0) when the range has no rows."
)
def export_command(
    stream: str,
    start: date,
    end: date,
    symbols: tuple[str, ...],
    fmt: str,
    out: Path,
    allow_empty: bool,
) -> None:
    """Export archived records of a day range to Parquet or CSV with typed columns.

    ``--stream gaps`` exports the gap records. Exit code 1 when the range holds no records
    (nothing is written) unless ``--allow-empty``.
    """
    from observer.ops.export import ExportJob

    settings = load_or_exit().settings
    if end < start:
        raise click.BadParameter("--to is before --from")
    job = ExportJob(settings.assets_dir, stream, start, end, set(symbols) or None, fmt, out)
    files = job.files()
    total = sum(size for _path, size in files)
    try:
        with click.progressbar(
            length=max(total, 1), label=f"exporting {stream}", file=sys.stderr
        ) as bar:
            summary = job.run(progress=bar.update)
    except OpsError as exc:
        raise click.ClickException(str(exc)) from exc
    if summary.rows == 0 and not allow_empty:
        out.unlink(missing_ok=True)
        exit_with(
            f"no {stream} records from {start} to {end}"
            f"{' for ' + ','.join(symbols) if symbols else ''} in {settings.assets_dir};"
            " nothing written (--allow-empty writes an empty file)",
            EXIT_FAILED,
        )
    click.echo(
        f"{summary.rows:,} rows from {summary.files} file(s) -> {out}"
        f" ({human_bytes(summary.bytes_written)}, {summary.seconds:.1f} s,"
        f" {summary.skipped_lines} unreadable line(s) skipped)"
    )


COMMANDS: list[click.Command] = [
    maintenance_group,
    backup_group,
    status_command,
    export_command,
]
