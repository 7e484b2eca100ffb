"""The archive loader against the real PostgreSQL: catch-up, follow, exactly-once, outages."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from observer.archive.reader import ArchiveReader
from observer.clock import NS_PER_S, Clock
from observer.config.settings import Settings
from observer.metrics import Metrics
from observer.store.inspect import database_status
from observer.store.loader import ArchiveLoader
from tests.pg import PgServer, db_overrides
from tests.store.proxy import CuttableProxy
from tests.store.samples import OPEN_NS, gap, quote, scalp_series, write_archive
from tests.waiting import wait_until

pytestmark = pytest.mark.db


def _loader(settings: Settings, **kwargs: Any) -> ArchiveLoader:
    return ArchiveLoader(settings, Clock(), Metrics(), ArchiveReader(settings.assets_dir), **kwargs)


async def _count(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _wait_for(dsn: str, sql: str, expected: Any, timeout: float = 20.0) -> None:
    async def current() -> Any:
        try:
            return await _count(dsn, sql)
        except asyncpg.UndefinedTableError:  # the loader has not migrated yet
            return None

    async def poll() -> None:
        while await current() != expected:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def _exactly_once(dsn: str, ticks: int) -> None:
    """Every tick once, and every tick counted once in the one-minute bars."""
    assert await _count(dsn, "SELECT count(*) FROM ticks") == ticks
    assert await _count(dsn, "SELECT sum(trade_count) FROM bars_1m") == ticks
    volume = await _count(dsn, "SELECT sum(trade_volume) FROM ticks")
    assert await _count(dsn, "SELECT sum(volume) FROM bars_1m") == volume


async def test_run_once_twice_loads_everything_once(db_settings: Settings, pg_dsn: str) -> None:
    records = scalp_series(5, 40)
    sweeps = [OPEN_NS + i * 300 * 10**9 for i in range(3)]
    records += [quote("005930", s, 70000 + i, 100 * i, s + 5) for i, s in enumerate(sweeps)]
    records.append(gap("100001", OPEN_NS, OPEN_NS + 10**10, OPEN_NS + 2 * 10**10))
    write_archive(db_settings.assets_dir, records)
    loader = _loader(db_settings)
    first = await loader.run_once()
    assert first["ticks"] == 200
    assert first["quotes"] == 3
    assert first["gaps"] == 1
    second = await _loader(db_settings).run_once()
    assert second == {}
    await _exactly_once(pg_dsn, 200)
    status = loader.status()["loader"]
    assert status["lag_records"] == {"scalp": 0, "swing": 0, "system": 0}
    assert status["lag_seconds"] == 0  # caught up: nothing behind the archive head
    assert status["rows"]["ticks"] == 200
    cp = await _count(pg_dsn, "SELECT last_seq FROM load_checkpoints WHERE stream = 'scalp'")
    assert cp == 200
    # what `observer db status` shows: row counts and per-stream lag against the archive
    shown = await database_status(db_settings, {"scalp": 205, "swing": 3, "system": None})
    assert shown["rows"]["ticks"] == 200 and shown["rows"]["quotes"] == 3
    assert shown["rows"]["gaps"] == 1 and set(shown["rows"]) == {
        "ticks", "quotes", "bars_1m", "gaps", "system_events", "universe_members"
    }  # fmt: skip
    assert shown["streams"]["scalp"]["lag_records"] == 5


async def test_a_nul_byte_does_not_stop_the_loader(db_settings: Settings, pg_dsn: str) -> None:
    """A record PostgreSQL refuses (a NUL byte in a text) is isolated, written to load_rejects,
    counted, and every other record loads; the checkpoint moves past it."""
    records = scalp_series(5, 40)
    records[77].data["market"] = "KOSPI\x00"
    write_archive(db_settings.assets_dir, records)
    loader = _loader(db_settings)
    loaded = await loader.run_once()
    assert loaded["ticks"] == 199
    assert loader.rejected == {"refused_ticks": 1}
    assert loader.metrics.loader_rejected._value.get() == 1
    assert await _count(pg_dsn, "SELECT count(*) FROM load_rejects WHERE stream = 'scalp'") == 1
    assert await _count(pg_dsn, "SELECT last_seq FROM load_checkpoints") == 200
    assert await _loader(db_settings).run_once() == {}


async def test_partial_line_waits_for_its_end(db_settings: Settings, pg_dsn: str) -> None:
    records = scalp_series(1, 3)
    write_archive(db_settings.assets_dir, records)
    path = next(db_settings.assets_dir.glob("scalp_*.jsonl"))
    extra = scalp_series(1, 4)[3]
    extra.seq = 4
    line = extra.to_line()
    with path.open("ab") as fh:
        fh.write(line[:40])
    assert (await _loader(db_settings).run_once())["ticks"] == 3
    with path.open("ab") as fh:
        fh.write(line[40:])
    assert (await _loader(db_settings).run_once())["ticks"] == 1
    await _exactly_once(pg_dsn, 4)


async def test_follow_mode_loads_new_lines(db_settings: Settings, pg_dsn: str) -> None:
    loader = _loader(db_settings)
    task = asyncio.create_task(loader.run_forever())
    try:
        records = scalp_series(2, 30)
        write_archive(db_settings.assets_dir, records[:20])
        await _wait_for(pg_dsn, "SELECT count(*) FROM ticks", 20)
        write_archive(db_settings.assets_dir, records[20:], {"scalp": 20})
        await _wait_for(pg_dsn, "SELECT count(*) FROM ticks", 60)
        next_hour = scalp_series(2, 5, OPEN_NS + 3600 * 10**9)  # a new hourly file appears
        for rec in next_hour:
            rec.data["acc_volume"] += 10_000
        write_archive(db_settings.assets_dir, next_hour, {"scalp": 60})
        await _wait_for(pg_dsn, "SELECT count(*) FROM ticks", 70)
        assert len(list(db_settings.assets_dir.glob("scalp_*.jsonl"))) == 2
        assert loader.db_up
        assert loader.metrics.db_up._value.get() == 1
    finally:
        loader.stop()
        await asyncio.wait_for(task, 10)
    await _exactly_once(pg_dsn, 70)


async def test_database_outage_loses_nothing(
    make_settings: Any, pg_server: PgServer, pg_database: str
) -> None:
    proxy = CuttableProxy(pg_server.host, pg_server.port)
    await proxy.start()
    overrides = db_overrides(pg_server, pg_database)
    overrides.update(DB_HOST="127.0.0.1", DB_PORT=proxy.port, OBSERVER_LOADER_BATCH_ROWS=50)
    settings = make_settings(**overrides)
    dsn = pg_server.dsn(pg_database)
    loader = _loader(settings, backoff_initial=0.05, backoff_max=0.2)
    task = asyncio.create_task(loader.run_forever())
    records = scalp_series(4, 100)
    try:
        write_archive(settings.assets_dir, records[:100])
        await _wait_for(dsn, "SELECT count(*) FROM ticks", 100)
        await proxy.cut()
        write_archive(settings.assets_dir, records[100:], {"scalp": 100})
        await wait_until(lambda: not loader.db_up, 10)
        await wait_until(lambda: loader.lag_records.get("scalp") == 300, 10)
        assert loader.metrics.loader_lag_records.labels(stream="scalp")._value.get() == 300
        assert loader.metrics.db_up._value.get() == 0
        assert loader.metrics.loader_errors._value.get() >= 1
        assert loader.status()["loader"]["last_error"]
        await proxy.restore()
        await _wait_for(dsn, "SELECT count(*) FROM ticks", 400)
    finally:
        loader.stop()
        await asyncio.wait_for(task, 10)
        await proxy.stop()
    assert loader.db_up
    await _exactly_once(dsn, 400)


async def test_a_network_partition_is_detected_within_seconds(
    make_settings: Any, pg_server: PgServer, pg_database: str
) -> None:
    """The database stops answering without closing anything, while the loader is idle and
    while it has records to write: the statement timeout notices, db_up turns 0, the lag keeps
    being reported against the archive head (records, and the receive-time distance between the
    newest archived and the newest loaded record) and follows the archive while the database
    stalls, and once the network is back everything loads exactly once and the lag is 0."""
    proxy = CuttableProxy(pg_server.host, pg_server.port)
    await proxy.start()
    overrides = db_overrides(pg_server, pg_database)
    overrides.update(
        DB_HOST="127.0.0.1", DB_PORT=proxy.port, OBSERVER_LOADER_BATCH_ROWS=50,
        OBSERVER_DB_TIMEOUT_SECONDS=1,
    )  # fmt: skip
    settings = make_settings(**overrides)
    dsn = pg_server.dsn(pg_database)
    loader = _loader(settings, backoff_initial=0.05, backoff_max=0.2)
    task = asyncio.create_task(loader.run_forever())
    records = scalp_series(4, 101)  # 0.25 s apart per symbol, four symbols
    metrics = loader.metrics
    try:
        write_archive(settings.assets_dir, records[:100])
        await _wait_for(dsn, "SELECT count(*) FROM ticks", 100)

        proxy.stall()  # while the loader is idle: nothing to write, still noticed
        await wait_until(lambda: not loader.db_up, 8)
        proxy.resume()
        await wait_until(lambda: loader.db_up, 10)
        proxy.stall()  # and while it has records to write
        write_archive(settings.assets_dir, records[100:400], {"scalp": 100})
        await wait_until(lambda: loader.metrics.loader_errors._value.get() >= 2, 8)
        await wait_until(lambda: not loader.db_up, 8)
        assert metrics.db_up._value.get() == 0
        await wait_until(lambda: loader.lag_records.get("scalp") == 300, 5)
        assert metrics.loader_lag_records.labels(stream="scalp")._value.get() == 300
        behind = (records[399].recv_ns - records[99].recv_ns) / NS_PER_S
        assert behind == 18.75
        await wait_until(lambda: loader.lag_seconds == behind, 5)
        assert metrics.loader_lag_seconds._value.get() == behind
        write_archive(settings.assets_dir, records[400:], {"scalp": 400})  # still stalled
        await wait_until(lambda: loader.lag_records.get("scalp") == 304, 5)
        await wait_until(lambda: loader.lag_seconds == behind + 0.25, 5)
        proxy.resume()
        await _wait_for(dsn, "SELECT count(*) FROM ticks", 404)
        await wait_until(lambda: loader.lag_records.get("scalp") == 0, 5)
        await wait_until(lambda: loader.lag_seconds == 0, 5)
        assert metrics.loader_lag_seconds._value.get() == 0
    finally:
        loader.stop()
        await asyncio.wait_for(task, 10)
        await proxy.stop()
    assert loader.db_up
    await _exactly_once(dsn, 404)


async def test_terminated_backend_mid_run_is_retried(db_settings: Settings, pg_dsn: str) -> None:
    loader = _loader(db_settings, backoff_initial=0.05, backoff_max=0.2)
    task = asyncio.create_task(loader.run_forever())
    records = scalp_series(3, 50)
    try:
        write_archive(db_settings.assets_dir, records[:30])
        await _wait_for(pg_dsn, "SELECT count(*) FROM ticks", 30)
        await _count(
            pg_dsn,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'observer-loader'",
        )
        write_archive(db_settings.assets_dir, records[30:], {"scalp": 30})
        await _wait_for(pg_dsn, "SELECT count(*) FROM ticks", 150)
    finally:
        loader.stop()
        await asyncio.wait_for(task, 10)
    await _exactly_once(pg_dsn, 150)


def _cli_env(home: Path, settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "OBSERVER_HOME": str(home),
        "DB_HOST": settings.db_host,
        "DB_PORT": str(settings.db_port),
        "DB_NAME": settings.db_name,
        "DB_USER": settings.db_user,
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


async def test_sigkill_mid_load_then_resume(db_settings: Settings, pg_dsn: str, home: Path) -> None:
    """A following loader is SIGKILLed once 2,000 of the first 10,000 archived lines are in:
    however fast it ran, it was killed before the second half existed, so the resumed load
    must add exactly what the killed one did not."""
    records = scalp_series(20, 1000)
    write_archive(db_settings.assets_dir, records[:10_000])
    env = _cli_env(home, db_settings, OBSERVER_LOADER_BATCH_ROWS="250")
    proc = subprocess.Popen(
        [sys.executable, "-m", "observer", "db", "load", "--follow"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        loaded = 0
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            try:
                loaded = await _count(
                    pg_dsn, "SELECT coalesce(sum(lines), 0) FROM load_checkpoints"
                )
            except asyncpg.UndefinedTableError:
                loaded = 0
            if loaded >= 2000 or proc.poll() is not None:
                break
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    partial = await _count(pg_dsn, "SELECT count(*) FROM ticks")
    assert 2_000 <= partial <= 10_000
    write_archive(db_settings.assets_dir, records[10_000:], {"scalp": 10_000})
    resumed = await _loader(db_settings).run_once()
    assert resumed["ticks"] == 20_000 - partial
    await _exactly_once(pg_dsn, 20_000)


def test_cli_migrate_and_status(db_settings: Settings, home: Path) -> None:
    env = _cli_env(home, db_settings)
    run = [sys.executable, "-m", "observer", "db"]
    first = subprocess.run([*run, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_init.sql" in first.stdout
    again = subprocess.run([*run, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert "0 applied" in again.stdout
    status = subprocess.run([*run, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "0002_views.sql" in status.stdout
    assert "scalp" in status.stdout


async def test_universe_from_snapshots_and_events(db_settings: Settings, pg_dsn: str) -> None:
    from observer.pipeline.record import system_record

    snapshots = db_settings.snapshot_dir
    snapshots.mkdir(parents=True, exist_ok=True)
    (snapshots / "20260105_universe.json").write_bytes(
        b'{"date": "20260105", "generated_at": "2026-01-05T08:00:00+09:00", "source": "sim",'
        b' "symbols": [{"code": "005930", "market": "KOSPI", "name": "Sample A",'
        b' "prev_close": 70000}, {"code": "000660", "market": "KOSPI", "name": "Sample B",'
        b' "prev_close": 120000}]}'
    )
    (snapshots / "20260106_universe.json").write_bytes(b"{not json")
    added = system_record("universe", OPEN_NS + 86_400 * 10**9, "sim", "035720", action="added")
    write_archive(db_settings.assets_dir, [added])
    loader = _loader(db_settings)
    counts = await loader.run_once()
    assert counts["universe_members"] == 3
    rows = await _count(
        pg_dsn,
        "SELECT string_agg(business_date || ':' || symbol || ':' || origin, ',' "
        "ORDER BY business_date, symbol) FROM universe_members",
    )
    assert rows == ("2026-01-05:000660:snapshot,2026-01-05:005930:snapshot,2026-01-06:035720:event")


async def test_resumes_inside_a_file_compressed_since(db_settings: Settings, pg_dsn: str) -> None:
    import zstandard

    records = scalp_series(2, 40)
    write_archive(db_settings.assets_dir, records[:30])
    assert (await _loader(db_settings).run_once())["ticks"] == 30
    write_archive(db_settings.assets_dir, records[30:], {"scalp": 30})
    plain = next(db_settings.assets_dir.glob("scalp_*.jsonl"))
    zst = plain.with_name(plain.name + ".zst")
    zst.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    plain.unlink()
    assert (await _loader(db_settings).run_once())["ticks"] == 50
    await _exactly_once(pg_dsn, 80)
