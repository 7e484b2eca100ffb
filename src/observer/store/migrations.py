"""Versioned schema migrations (``store/migrations/NNNN_name.sql``).

``migrate`` creates the database when it is missing, then applies every pending file in name
order, each in its own transaction, under an advisory lock so any number of concurrent runs
(Kubernetes Jobs, several pods) are safe. Applied files are recorded in ``schema_migrations``
with their sha256; a file changed after it was applied stops the run, naming it. Migrations
only ever add: nothing here drops data.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from importlib import resources

from observer.config.settings import Settings
from observer.store.connection import Database
from observer.store.exceptions import DuplicateObjectError, MigrationChecksumError, QueryError

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 0x0B5E_4E12  # pg_advisory_lock key held while migrating
MISSING_DATABASE = "3D000"  # invalid_catalog_name: DB_NAME does not exist yet
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text        PRIMARY KEY,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its name (the version), SQL text and sha256."""

    name: str
    sql: str
    checksum: str


@dataclass(slots=True)
class MigrationReport:
    """What one ``migrate`` run did."""

    database: str
    created_database: bool = False
    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)


def available_migrations() -> list[Migration]:
    """The packaged migration files in the order they apply."""
    folder = resources.files("observer.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            data = entry.read_bytes()
            found.append(
                Migration(entry.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
            )
    return sorted(found, key=lambda m: m.name)


async def ensure_database(settings: Settings) -> bool:
    """Create the missing DB_NAME on the server (over its ``postgres`` maintenance database);
    False when a concurrent run created it first."""
    base, label = settings.db_dsn.rpartition("/")[0], settings.db_dsn_redacted.rpartition("/")[0]
    admin = await Database.connect(base + "/postgres", label=label + "/postgres")
    try:
        statement = await admin.fetchval(
            "SELECT format('CREATE DATABASE %I', $1::text)", settings.db_name
        )
        try:
            await admin.execute(statement)
        except DuplicateObjectError:
            return False  # a concurrent run created it first
        log.info("created database %s", settings.db_name)
        return True
    finally:
        await admin.close()


async def migrate(settings: Settings, migrations: list[Migration] | None = None) -> MigrationReport:
    """Create the database if needed and apply every pending migration."""
    report = MigrationReport(database=settings.db_name)
    try:
        db = await Database.connect(settings.db_dsn, label=settings.db_dsn_redacted)
    except QueryError as err:
        if err.sqlstate != MISSING_DATABASE:
            raise
        report.created_database = await ensure_database(settings)
        db = await Database.connect(settings.db_dsn, label=settings.db_dsn_redacted)
    try:
        await db.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            await _apply_pending(db, migrations or available_migrations(), report)
        finally:
            await db.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await db.close()
    return report


async def _apply_pending(
    db: Database, migrations: list[Migration], report: MigrationReport
) -> None:
    applied = {version: checksum for version, checksum, _ in await applied_migrations(db)}
    # A least-privilege role (owner of nothing) may run this when nothing is pending: create
    # the table only when nothing was applied, since CREATE needs rights that role lacks.
    if not applied:
        await db.execute(_CREATE_TABLE)
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationChecksumError(
                f"migration {migration.name} was changed after it was applied "
                f"(applied sha256 {recorded[:12]}, file now {migration.checksum[:12]}); "
                "add a new migration instead of editing an applied one",
                name=migration.name,
            )
    for migration in migrations:
        if migration.name in applied:
            report.already_applied.append(migration.name)
            continue
        async with db.transaction():
            await db.execute(migration.sql)
            await db.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                migration.name,
                migration.checksum,
            )
        log.info("applied migration %s", migration.name)
        report.applied.append(migration.name)


async def applied_migrations(db: Database) -> list[tuple[str, str, str]]:
    """(version, sha256, applied_at ISO) of every applied migration, oldest first."""
    exists = await db.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await db.fetch(
        "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version"
    )
    return [(r["version"], r["checksum"], r["applied_at"].isoformat()) for r in rows]
