"""Database retention against a real PostgreSQL: old day partitions dropped, new ones kept,
and a database that cannot be reached is skipped cleanly."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
import pytest

from observer.clock import KST, ManualClock
from observer.metrics import Metrics
from observer.ops.maintenance import Maintenance
from observer.store.migrations import migrate
from tests.service_process import free_port

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=KST)


async def partitions(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE c.relkind = 'r'"
        )
    finally:
        await conn.close()
    return {row["relname"] for row in rows}


@pytest.mark.db
async def test_old_partitions_are_dropped_and_recent_ones_kept(
    make_db_settings: Any, pg_dsn: str
) -> None:
    settings = make_db_settings(OBSERVER_RETENTION_DB_DAYS=30)
    await migrate(settings)
    conn = await asyncpg.connect(pg_dsn)
    try:
        for table in ("ticks", "quotes"):
            for day in (date(2026, 2, 1), date(2026, 2, 18), date(2026, 2, 19), date(2026, 3, 20)):
                await conn.execute("SELECT observer_ensure_partition($1, $2)", table, day)
        for at in ("2026-02-17 23:59:59+09", "2026-02-18 00:00:00+09", "2026-03-20 10:00:00+09"):
            await conn.execute(
                "INSERT INTO load_rejects (rejected_at, target, reason, row_json)"
                " VALUES ($1::text::timestamptz, 'ticks', 'refused', '[]')",
                at,
            )
    finally:
        await conn.close()
    before = await partitions(pg_dsn)
    metrics = Metrics()
    result = await Maintenance(settings, ManualClock(NOW), metrics).run("retention")

    # the cutoff is 2026-02-18: partitions of days before it go
    dropped = {"ticks_20260201", "quotes_20260201"}
    assert result["partitions_dropped"] == 2 and result["partitions_skipped"] is None
    assert await partitions(pg_dsn) == before - dropped
    assert metrics.retention_removed.labels("db_partition")._value.get() == 2
    # refused rows set aside before the cutoff (KST) go too
    conn = await asyncpg.connect(pg_dsn)
    try:
        kept = await conn.fetch("SELECT rejected_at FROM load_rejects ORDER BY rejected_at")
    finally:
        await conn.close()
    assert [row["rejected_at"] for row in kept] == [
        datetime(2026, 2, 18, 0, 0, tzinfo=KST),
        datetime(2026, 3, 20, 10, 0, tzinfo=KST),
    ]


async def test_an_unreachable_database_is_skipped_cleanly(make_settings: Any) -> None:
    settings = make_settings(DB_PORT=free_port())
    maintenance = Maintenance(settings, ManualClock(NOW), Metrics())
    result = await maintenance.run("retention")
    assert result["partitions_dropped"] == 0
    assert result["partitions_skipped"].startswith("database not reachable")
    assert maintenance.last_runs["retention"]["ok"] is True


async def test_no_database_is_touched_when_the_loader_is_disabled(make_settings: Any) -> None:
    settings = make_settings(OBSERVER_LOADER_ENABLED="false", DB_PORT=free_port())
    result = await Maintenance(settings, ManualClock(NOW), Metrics()).run("retention")
    assert result["partitions_skipped"] == "the loader is disabled (no database)"
