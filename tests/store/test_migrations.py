"""Migrations against the real PostgreSQL: create, re-run, concurrency, changed files."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg
import pytest

from observer.config.settings import Settings
from observer.store.exceptions import DatabaseUnavailableError, MigrationChecksumError
from observer.store.migrations import available_migrations, migrate
from tests.pg import PgServer, db_overrides

pytestmark = pytest.mark.db

TABLES = {
    "ticks",
    "quotes",
    "bars_1m",
    "gaps",
    "system_events",
    "universe_members",
    "load_checkpoints",
    "schema_migrations",
}
VIEWS = {"scalp_ticks", "swing_bars_10m", "scalp_1m_bars", "scalp_gaps"}


async def _names(dsn: str, kind: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = ANY($1::char[])",
            list(kind),
        )
    finally:
        await conn.close()
    return {r["relname"] for r in rows}


async def test_migrate_twice_applies_once(db_settings: Settings, pg_dsn: str) -> None:
    first = await migrate(db_settings)
    assert first.applied == [m.name for m in available_migrations()]
    assert not first.created_database
    second = await migrate(db_settings)
    assert second.applied == []
    assert second.already_applied == first.applied
    assert TABLES <= await _names(pg_dsn, "rp")
    assert VIEWS <= await _names(pg_dsn, "v")


async def test_migrate_creates_missing_database(
    make_settings: Any, pg_server: PgServer, pg_database: str
) -> None:
    name = pg_database + "_new"
    settings = make_settings(**db_overrides(pg_server, name))
    try:
        report = await migrate(settings)
        assert report.created_database
        assert TABLES <= await _names(pg_server.dsn(name), "rp")
    finally:
        conn = await asyncpg.connect(pg_server.dsn("postgres"))
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def test_concurrent_migrations_are_safe(db_settings: Settings) -> None:
    reports = await asyncio.gather(*(migrate(db_settings) for _ in range(4)))
    applied = [name for report in reports for name in report.applied]
    assert sorted(applied) == [m.name for m in available_migrations()]


async def test_changed_applied_migration_is_named(db_settings: Settings) -> None:
    await migrate(db_settings)
    migrations = available_migrations()
    changed = dataclasses.replace(migrations[0], checksum="0" * 64)
    with pytest.raises(MigrationChecksumError) as info:
        await migrate(db_settings, [changed, *migrations[1:]])
    assert info.value.name == migrations[0].name
    assert migrations[0].name in str(info.value)


async def test_unreachable_server_is_a_store_error(make_settings: Any) -> None:
    from tests.pg import _free_port

    settings = make_settings(
        DB_HOST="127.0.0.1", DB_PORT=_free_port(), DB_NAME="nowhere", DB_PASSWORD="fake-db-pw"
    )
    with pytest.raises(DatabaseUnavailableError) as info:
        await migrate(settings)
    assert "fake-db-pw" not in str(info.value)
    assert "***" in str(info.value)
