"""Database retention: drop the day partitions older than ``OBSERVER_RETENTION_DB_DAYS``.

The store's schema provides ``observer_drop_partitions_before(cutoff)`` (it drops whole day
partitions of the market tables and deletes older system rows); this calls it over one short
connection, and deletes the rows the loader set aside in ``load_rejects`` before the cutoff.
When the database is unreachable the store raises ``DatabaseUnavailableError``, which the
maintenance task reports as skipped: the archive remains the source of truth.
"""

from __future__ import annotations

import logging
from datetime import date

from observer.config.settings import Settings
from observer.store.connection import Database

log = logging.getLogger(__name__)

DROP_SQL = "SELECT name FROM observer_drop_partitions_before($1::date) AS name"
# The cutoff is a KST business date; a reject's time is when the loader set it aside.
DELETE_REJECTS_SQL = (
    "DELETE FROM load_rejects WHERE rejected_at < $1::date::timestamp AT TIME ZONE 'Asia/Seoul'"
)
CONNECT_SECONDS = 5.0


async def drop_partitions_before(settings: Settings, cutoff: date) -> list[str]:
    """Drop every day partition wholly before ``cutoff``; returns the dropped table names."""
    db = await Database.connect(
        settings.db_dsn, label=settings.db_dsn_redacted, connect_seconds=CONNECT_SECONDS
    )
    try:
        rows = await db.fetch(DROP_SQL, cutoff)
        rejects = await db.execute(DELETE_REJECTS_SQL, cutoff)
    finally:
        await db.close()
    dropped = [str(row["name"]) for row in rows]
    log.info(
        "database retention: dropped %d partition(s) and %s refused row(s) before %s",
        len(dropped), rejects.rsplit(" ", 1)[-1], cutoff,
    )  # fmt: skip
    return dropped
