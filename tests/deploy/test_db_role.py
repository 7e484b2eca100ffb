"""The service's least-privilege role, against the real PostgreSQL: the migration Job's two
steps (``observer db migrate`` as the owner, then deploy/base/db-grants.sql through psql) leave
a role that owns nothing, yet loads the archive, creates and drops day partitions (through the
owner's SECURITY DEFINER functions, migration 0006) and starts with nothing pending."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from observer.archive.reader import ArchiveReader
from observer.clock import Clock
from observer.metrics import Metrics
from observer.store.loader import ArchiveLoader
from observer.store.migrations import migrate
from tests.deploy.conftest import DEPLOY
from tests.pg import PgServer
from tests.store.samples import scalp_series, write_archive

pytestmark = pytest.mark.db
GRANTS = DEPLOY / "base" / "db-grants.sql"


def grant(
    server: PgServer, database: str, owner: str, app: str
) -> subprocess.CompletedProcess[str]:
    """What the migration Job's `grant` container runs."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql not installed (postgresql-client)")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": owner,
        "PGPASSWORD": server.password, "PGDATABASE": database,
        "POSTGRES_USER": owner, "POSTGRES_DB": database,
        "DB_USER": app, "DB_PASSWORD": "fake-app-password",
    }  # fmt: skip
    return subprocess.run(
        [psql, "-X", "-q", "-f", str(GRANTS)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
async def roles(pg_server: PgServer, pg_database: str) -> Any:
    suffix = secrets.token_hex(4)
    owner, app = f"observer_owner_{suffix}", f"observer_app_{suffix}"
    admin = await asyncpg.connect(pg_server.dsn(pg_database))
    try:
        # The postgres image makes POSTGRES_USER a superuser; CREATEROLE is all the grants need.
        await admin.execute(f'CREATE ROLE "{owner}" LOGIN CREATEROLE')
        await admin.execute(f'ALTER DATABASE "{pg_database}" OWNER TO "{owner}"')
        yield owner, app
    finally:
        for role in (app, owner):
            if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await admin.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
                await admin.execute(f'DROP OWNED BY "{role}"')
                await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_the_service_role_owns_nothing_and_still_does_its_work(
    pg_server: PgServer, pg_database: str, make_db_settings: Any, roles: tuple[str, str], home: Path
) -> None:
    owner, app = roles
    await migrate(make_db_settings(DB_USER=owner))
    done = grant(pg_server, pg_database, owner, app)
    assert done.returncode == 0, done.stderr
    assert grant(pg_server, pg_database, owner, app).returncode == 0  # idempotent

    settings = make_db_settings(DB_USER=app, DB_PASSWORD="fake-app-password")
    report = await migrate(settings)  # the service's start: nothing pending, nothing created
    assert report.applied == [] and "0006_definer_functions.sql" in report.already_applied
    write_archive(settings.assets_dir, scalp_series(symbols=3, per_symbol=50))
    loader = ArchiveLoader(
        settings, Clock(), Metrics(), ArchiveReader(settings.assets_dir), auto_migrate=False
    )
    await loader.run_once()

    conn = await asyncpg.connect(pg_server.dsn(pg_database).replace(
        f"{pg_server.user}@", f"{app}:fake-app-password@", 1))  # fmt: skip
    try:
        assert await conn.fetchval("SELECT current_user") == app
        assert await conn.fetchval("SELECT count(*) FROM ticks") == 150
        assert await conn.fetchval("SELECT count(*) FROM scalp_ticks") == 150  # views readable
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = current_user)"
        )
        assert owned == 0
        refused = ("CREATE TABLE intruder (a int)", "DROP TABLE gaps",
                   "ALTER TABLE ticks ADD COLUMN x int", "TRUNCATE load_checkpoints")  # fmt: skip
        for statement in refused:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT observer_ensure_partition('quotes', '2026-02-02')")
        dropped = await conn.fetch("SELECT observer_drop_partitions_before($1)", date(2026, 3, 1))
        assert {r[0] for r in dropped} >= {"quotes_20260202", "ticks_20260105"}
    finally:
        await conn.close()


async def test_the_grants_refuse_one_role_for_both(
    pg_server: PgServer, pg_database: str, make_db_settings: Any, roles: tuple[str, str]
) -> None:
    owner, _app = roles
    await migrate(make_db_settings(DB_USER=owner))
    done = grant(pg_server, pg_database, owner, owner)
    assert done.returncode == 3
    assert "DB_USER equals POSTGRES_USER" in done.stdout + done.stderr
