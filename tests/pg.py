"""The PostgreSQL fixture for every test area (registered in tests/conftest.py).

Where the server comes from, in order:
1. ``OBSERVER_TEST_DATABASE_URL`` (a DSN to any database on the server to use);
2. the local server at 127.0.0.1:5432, user ``postgres``, when it answers;
3. a throwaway cluster started from the installed PostgreSQL binaries
   (``/usr/lib/postgresql/*/bin``) on a free port, stopped at the end of the session.
If none can be had the tests that need a database fail with a message saying so.

Each test that asks for ``pg_dsn`` / ``db_settings`` gets its own fresh database
(``test_<random>``), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from observer.config.settings import Settings, settings_for_tests

LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class PgServer:
    """A reachable PostgreSQL server and how it was obtained."""

    host: str
    port: int
    user: str
    password: str
    origin: str  # "env", "local" or "throwaway"
    admin_db: str = "postgres"  # where CREATE / DROP DATABASE run

    def dsn(self, database: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"


async def _answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
    await conn.close()
    return True


async def admin_sql(server: PgServer, sql: str) -> None:
    """Run one statement (CREATE / DROP DATABASE) in the server's admin database."""
    conn = await asyncpg.connect(server.dsn(server.admin_db), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary directory, run as ``postgres`` when we are root."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found and shutil.which("initdb"):
            found = [str(shutil.which("initdb"))]
        if not found:
            raise RuntimeError("no PostgreSQL binaries (initdb) found under /usr/lib/postgresql")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="observer-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> PgServer:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "server.log"),
            "start",
        )
        return PgServer("127.0.0.1", self.port, "postgres", "", "throwaway")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _server_from_url(url: str) -> PgServer:
    parts = urlsplit(url)
    return PgServer(
        parts.hostname or "127.0.0.1",
        parts.port or 5432,
        parts.username or "postgres",
        parts.password or "",
        "env",
        parts.path.lstrip("/") or "postgres",
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the session (see the module docstring for where it comes from)."""
    url = os.environ.get("OBSERVER_TEST_DATABASE_URL", "")
    if url:
        if not asyncio.run(_answers(url)):
            pytest.fail("OBSERVER_TEST_DATABASE_URL is set but the server does not answer")
        yield _server_from_url(url)
        return
    if asyncio.run(_answers(LOCAL_DSN)):
        yield PgServer("127.0.0.1", 5432, "postgres", "", "local")
        return
    try:
        cluster = ThrowawayCluster()
        server = cluster.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(
            "no PostgreSQL for the tests: set OBSERVER_TEST_DATABASE_URL, run a server on "
            f"127.0.0.1:5432 (user postgres, trust), or install PostgreSQL binaries ({exc})"
        )
    try:
        yield server
    finally:
        cluster.stop()


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database for one test (its name); dropped afterwards."""
    name = "test_" + secrets.token_hex(6)
    asyncio.run(admin_sql(pg_server, f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(admin_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_dsn(pg_server: PgServer, pg_database: str) -> str:
    """The DSN of this test's own database."""
    return pg_server.dsn(pg_database)


def db_overrides(server: PgServer, database: str) -> dict[str, Any]:
    """DB_* settings pointing at ``database`` on ``server``."""
    overrides: dict[str, Any] = {
        "DB_HOST": server.host,
        "DB_PORT": server.port,
        "DB_NAME": database,
        "DB_USER": server.user,
    }
    if server.password:
        overrides["DB_PASSWORD"] = server.password
    return overrides


@pytest.fixture
def make_db_settings(home: Path, pg_server: PgServer, pg_database: str) -> Callable[..., Settings]:
    """Build Settings whose DB_* point at this test's database, plus any overrides."""

    def build(**overrides: Any) -> Settings:
        return settings_for_tests(home, **{**db_overrides(pg_server, pg_database), **overrides})

    return build


@pytest.fixture
def db_settings(make_db_settings: Callable[..., Settings]) -> Settings:
    """Settings whose DB_* point at this test's fresh database."""
    return make_db_settings()


def replace_database(dsn: str, database: str) -> str:
    """The same DSN naming another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
