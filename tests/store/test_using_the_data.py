"""Every example of docs/using-the-data.md runs against a database loaded from a simulated session.

A real ``observer run`` collects a sped-up session (the simulator drops its WebSocket connections
now and then, so there are gaps) and loads it into a fresh database; then the page's code
blocks run as a reader would run them: ``sql`` blocks through ``psql`` (after the block that
sets the psql variables), ``sh`` blocks through ``bash``, ``python`` blocks one after another in
one namespace. Two substitutions only: the connection string becomes the test database's and
the example symbol ``005930`` becomes the session's busiest symbol that has a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.pg import PgServer, admin_sql
from tests.service_process import SIMULATED_SESSION, ServiceProcess, get

pytestmark = [pytest.mark.db, pytest.mark.slow]

DOC = Path(__file__).resolve().parents[2] / "docs" / "using-the-data.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
DOC_SYMBOL = "005930"
DOC_PYTHON_URL = "postgresql+psycopg://observer@127.0.0.1:5432/observer"
ROWS = re.compile(r"^\((\d+) rows?\)$", re.M)
SESSION = {**SIMULATED_SESSION, "OBSERVER_LOADER_ENABLED": "1"}


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == language]


@dataclass
class LoadedSession:
    url: str  # postgresql://... for psql
    home: Path
    symbol: str


async def _busiest_symbol_with_a_gap(dsn: str) -> tuple[str, int]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await conn.fetchrow(
            """SELECT t.symbol, count(*) AS n FROM scalp_ticks t
               WHERE t.symbol IN (SELECT symbol FROM gaps WHERE symbol <> '')
               GROUP BY t.symbol ORDER BY n DESC LIMIT 1"""
        )
        gaps = await conn.fetchval("SELECT count(*) FROM gaps WHERE reason = 'disconnect'")
    finally:
        await conn.close()
    assert row is not None, "the session left no symbol with trades and a gap"
    return str(row["symbol"]), int(gaps)


def _collected(svc: ServiceProcess) -> bool:
    code, status = get(svc.url + "/status")
    if code != 200:
        return False
    disconnects = [g for g in status.get("gaps") or [] if g["reason"] == "disconnect"]
    return status["streams"]["scalp"]["stored"] > 5_000 and len(disconnects) >= 2


@pytest.fixture(scope="module")
def loaded(
    pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoadedSession]:
    """A simulated session collected by ``observer run`` and loaded into its own database."""
    name = "test_docs_" + secrets.token_hex(5)
    asyncio.run(admin_sql(pg_server, f'CREATE DATABASE "{name}"'))
    home = tmp_path_factory.mktemp("observer")
    db = {"DB_HOST": pg_server.host, "DB_PORT": str(pg_server.port), "DB_NAME": name}
    db["DB_USER"] = pg_server.user
    if pg_server.password:
        db["DB_PASSWORD"] = pg_server.password
    try:
        with ServiceProcess(home, **SESSION, **db) as svc:
            svc.start()
            svc.wait_for(lambda: _collected(svc), 120, "trades and two disconnects")
            assert svc.terminate(timeout=20) == 0
        env = {**svc.env, "OBSERVER_LOADER_ENABLED": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "observer", "db", "load"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr  # the rest of the archive, if any
        symbol, disconnects = asyncio.run(_busiest_symbol_with_a_gap(pg_server.dsn(name)))
        assert disconnects >= 2
        yield LoadedSession(pg_server.dsn(name), home, symbol)
    finally:
        asyncio.run(admin_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def psql() -> str:
    found = shutil.which("psql") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))), None
    )
    if found is None:
        pytest.fail("psql is missing: install the PostgreSQL client")
    return found


def run_psql(session: LoadedSession, script: str) -> str:
    done = subprocess.run(
        [psql(), session.url, "-X", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        input=script.replace(DOC_SYMBOL, session.symbol),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{script}\n{done.stderr}"
    return done.stdout


SQL = blocks("sql")


@pytest.mark.parametrize("index", range(1, len(SQL)), ids=lambda i: f"sql-{i}")
def test_each_sql_example_returns_rows(loaded: LoadedSession, index: int) -> None:
    output = run_psql(loaded, SQL[0] + SQL[index])  # the block that sets the psql variables
    counts = [int(n) for n in ROWS.findall(output)]
    assert len(counts) == 2, output  # the variables' check and the example
    assert counts[1] > 0, f"{SQL[index]}\n{output}"


def test_the_psql_variables_block(loaded: LoadedSession) -> None:
    output = run_psql(loaded, SQL[0])
    assert loaded.symbol in output and "2026-01-05" in output


def test_shell_and_python_examples_run(loaded: LoadedSession, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBSERVER_", "KIS_", "DB_"))}
    env.update(
        {
            "DATABASE_URL": loaded.url,
            "OBSERVER_HOME": str(loaded.home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    for script in blocks("sh"):
        lines = [ln for ln in script.splitlines() if not ln.startswith("export DATABASE_URL=")]
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "ticks.parquet").is_file()

    python_url = loaded.url.replace("postgresql://", "postgresql+psycopg://", 1)
    namespace: dict[str, Any] = {}
    printed = io.StringIO()
    with contextlib.chdir(tmp_path), contextlib.redirect_stdout(printed):
        for code in blocks("python"):
            code = code.replace(DOC_PYTHON_URL, python_url).replace(DOC_SYMBOL, loaded.symbol)
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the page's examples
    namespace["engine"].dispose()
    for frame in ("bars", "five_minutes", "gaps", "by_symbol", "vwap", "top", "minute_bars"):
        assert len(namespace[frame]) > 0, frame
    assert namespace["bars"]["vwap"].notna().all()
    assert loaded.symbol in set(namespace["top"]["symbol"])
    assert printed.getvalue()
