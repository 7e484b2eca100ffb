"""``observer db status``: applied migrations, load checkpoints, lag and row counts."""

from __future__ import annotations

from typing import Any, Final

from observer.config.settings import Settings
from observer.pipeline.record import STREAMS
from observer.store.batch import Checkpoint
from observer.store.connection import Database
from observer.store.migrations import applied_migrations, available_migrations

# Row counts of the tables `db status` shows, in one statement.
COUNTS_SQL: Final = (
    "SELECT (SELECT count(*) FROM ticks) AS ticks, (SELECT count(*) FROM quotes) AS quotes,"
    " (SELECT count(*) FROM bars_1m) AS bars_1m, (SELECT count(*) FROM gaps) AS gaps,"
    " (SELECT count(*) FROM system_events) AS system_events,"
    " (SELECT count(*) FROM universe_members) AS universe_members"
)


async def read_checkpoints(db: Database) -> dict[str, Checkpoint]:
    """The stored checkpoint of every stream that has one."""
    rows = await db.fetch(
        'SELECT stream, file, "offset", last_seq, last_recv_ns, lines, rejected '
        "FROM load_checkpoints"
    )
    return {r["stream"]: Checkpoint(**dict(r)) for r in rows}


async def database_status(
    settings: Settings, archive_last_seq: dict[str, int | None]
) -> dict[str, Any]:
    """Migrations (applied and pending), per-stream checkpoints with lag, and row counts."""
    db = await Database.connect(settings.db_dsn, label=settings.db_dsn_redacted)
    try:
        applied = await applied_migrations(db)
        done = {version for version, _, _ in applied}
        pending = [m.name for m in available_migrations() if m.name not in done]
        checkpoints = await read_checkpoints(db) if applied else {}
        counts = {k: int(v) for k, v in (await db.fetch(COUNTS_SQL))[0].items()} if applied else {}
    finally:
        await db.close()
    streams: dict[str, Any] = {}
    for stream in STREAMS:
        cp = checkpoints.get(stream) or Checkpoint(stream)
        newest = archive_last_seq.get(stream)
        lag = None if newest is None else max(0, newest - (cp.last_seq or 0))
        streams[stream] = {
            "file": cp.file or None,
            "offset": cp.offset,
            "last_seq": cp.last_seq,
            "archive_last_seq": newest,
            "lag_records": lag,
            "lines": cp.lines,
            "rejected": cp.rejected,
        }
    return {"migrations": applied, "pending": pending, "streams": streams, "rows": counts}
