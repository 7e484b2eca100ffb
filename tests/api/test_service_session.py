"""The whole service through a simulated trading session: simulator -> KIS client -> market
runtime -> pipeline -> archive -> loader -> PostgreSQL, then SIGTERM."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from observer.archive.reader import ArchiveReader
from tests.pg import PgServer, db_overrides
from tests.service_process import OBSERVER, ServiceProcess, base_env, get

# Monday 2026-01-05, two clock minutes before the open, at 10x: the open comes in ~12 s.
SESSION_START = "2026-01-05T08:58:00+09:00"


def status_of(svc: ServiceProcess) -> dict[str, Any]:
    code, body = get(svc.url + "/status")
    assert code == 200
    assert isinstance(body, dict)
    return body


def collected(svc: ServiceProcess) -> bool:
    streams = status_of(svc)["streams"]
    return streams["scalp"]["stored"] > 500 and streams["swing"]["stored"] > 0


async def table_counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            for table in ("ticks", "quotes", "scalp_ticks", "bars_1m")
        }
    finally:
        await conn.close()


def test_a_simulated_session_reaches_the_archive_and_postgresql(
    home: Path, pg_server: PgServer, pg_database: str
) -> None:
    env = {k: str(v) for k, v in db_overrides(pg_server, pg_database).items()}
    svc = ServiceProcess(
        home,
        OBSERVER_CLOCK_START=SESSION_START,
        OBSERVER_CLOCK_SPEED="10",
        OBSERVER_SWING_INTERVAL_SECONDS="60",
        OBSERVER_SIM_ISSUES="600",
        OBSERVER_LOADER_ENABLED="1",
        **env,
    )
    with svc:
        svc.start()
        before = status_of(svc)
        assert before["market"]["session"] in (None, "pre_open")
        svc.wait_for(lambda: collected(svc), 90, "scalp and swing records")
        svc.wait_for(lambda: status_of(svc)["loader"]["db_up"], 30, "the loader connected")
        status = status_of(svc)
        assert status["market"]["session"] == "regular"
        assert any(s["connected"] for s in status["sources"] if s["kind"] == "websocket")
        assert status["slots"] and status["slots"][0]["symbols"]
        assert "SIMULATED MARKET - no KIS credentials configured" in status["warnings"]
        assert svc.terminate(timeout=10) == 0

    reader = ArchiveReader(home / "data" / "assets")
    scalp = [orjson.loads(line) for line, _ in reader.iter_lines("scalp", None)]
    swing = [orjson.loads(line) for line, _ in reader.iter_lines("swing", None)]
    system = [orjson.loads(line) for line, _ in reader.iter_lines("system", None)]
    assert system[-1]["data"]["event"] == "shutdown"  # written after every producer stopped
    assert scalp and swing
    assert [r["seq"] for r in scalp] == list(range(1, len(scalp) + 1))
    assert {r["source"] for r in scalp} == {"sim"}
    assert {r["tr_id"] for r in scalp} <= {"H0STCNT0", "H0STASP0"}
    assert all(r["raw"] and r["data"]["price"] > 0 for r in scalp if r["tr_id"] == "H0STCNT0")

    # What the service had not loaded yet, a one-shot load catches up: the counts then agree.

    subprocess.run([*OBSERVER, "db", "load"], env=base_env(home, 0, **env), check=True, timeout=120)
    counts = asyncio.run(table_counts(pg_server.dsn(pg_database)))
    trades = {
        (r["symbol"], r["data"]["business_date"], r["data"]["acc_volume"])
        for r in scalp
        if r["tr_id"] == "H0STCNT0"
    }
    assert counts["ticks"] == len(trades)
    assert counts["scalp_ticks"] == counts["ticks"]
    assert counts["quotes"] == len(swing)
    assert counts["bars_1m"] > 0
