"""Loader catch-up throughput: a generated archive of scalp trades -> PostgreSQL.

Writes N complete H0STCNT0 records (default 500,000; 200 symbols, spread over two KST
hours) as archive files, migrates a throwaway database and times ``ArchiveLoader.run_once()``.
Prints rows/s (floor: 100,000 rows/s). Needs the PostgreSQL of the tests
(OBSERVER_TEST_DATABASE_URL or 127.0.0.1:5432 user postgres).

    .venv/bin/python bench/bench_loader.py [--records N] [--general-path]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

FLOOR_ROWS_PER_SECOND = 100_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a local process (the loader's PostgreSQL backend), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def _watch_backend(url: str, database: str, out: dict[str, float]) -> None:
    """Track the CPU time of the loader's backends in ``database`` while they live (local
    servers only; other loaders on a shared server are not counted)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        pids: list[int] = []
        while len(pids) < 1:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'observer-loader%'"
                " AND datname = $1",
                database,
            )
            pids = [row["pid"] for row in rows]
            await asyncio.sleep(0.01)
        while True:
            cpu = [_proc_cpu_seconds(pid) for pid in pids]
            if any(c is None for c in cpu):
                return
            out["backend_cpu"] = sum(c for c in cpu if c is not None)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


def _generate(assets: Path, records: int, symbols: int) -> None:
    from tests.store.samples import OPEN_NS, tick

    from observer.archive.paths import hour_index, plain_name

    assets.mkdir(parents=True, exist_ok=True)
    per_symbol = records // symbols
    handles: dict[str, object] = {}
    seq = 0
    step = 7_200 * 10**9 // per_symbol  # two hours of trading
    for i in range(per_symbol):
        for s in range(symbols):
            at = OPEN_NS + i * step + s
            rec = tick(f"{100000 + s:06d}", (i + 1) * 7, 70000 + (i % 11) * 100, 7, at)
            seq += 1
            rec.seq = seq
            name = plain_name("scalp", hour_index(at))
            fh = handles.get(name)
            if fh is None:
                fh = handles[name] = (assets / name).open("wb")
            fh.write(rec.to_line())  # type: ignore[attr-defined]
    for fh in handles.values():
        fh.close()  # type: ignore[attr-defined]


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _bytes_per_tick(dsn: str) -> float:
    """PostgreSQL bytes per tick: every ticks partition with its indexes and TOAST, per row."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE ticks")
        size = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
            " WHERE inhparent = 'ticks'::regclass"
        )
        rows = await conn.fetchval("SELECT count(*) FROM ticks")
    finally:
        await conn.close()
    return float(size) / max(1, rows)


async def _run(records: int, symbols: int) -> None:
    from urllib.parse import urlsplit

    from observer.archive.reader import ArchiveReader
    from observer.clock import Clock
    from observer.config.settings import settings_for_tests
    from observer.metrics import Metrics
    from observer.store import tickcopy
    from observer.store.loader import ArchiveLoader
    from observer.store.migrations import migrate

    url = (
        os.environ.get("OBSERVER_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parts = urlsplit(url)
    name = "bench_loader_" + secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = settings_for_tests(
            home,
            DB_HOST=parts.hostname or "127.0.0.1",
            DB_PORT=parts.port or 5432,
            DB_USER=parts.username or "postgres",
            DB_NAME=name,
            **({"DB_PASSWORD": parts.password} if parts.password else {}),
        )
        t0 = time.perf_counter()
        _generate(settings.assets_dir, records, symbols)
        size = sum(p.stat().st_size for p in settings.assets_dir.iterdir())
        took = time.perf_counter() - t0
        print(f"generated {records:,} records ({size / 1e6:.0f} MB) in {took:.1f} s")
        try:
            await migrate(settings)
            loader = ArchiveLoader(
                settings, Clock(), Metrics(), ArchiveReader(settings.assets_dir), auto_migrate=False
            )
            cpu: dict[str, float] = {}
            watcher = asyncio.create_task(_watch_backend(url, name, cpu))
            t0, c0 = time.perf_counter(), time.process_time()
            counts = await loader.run_once()
            elapsed, loader_cpu = time.perf_counter() - t0, time.process_time() - c0
            watcher.cancel()
            per_tick = await _bytes_per_tick(settings.db_dsn)
        finally:
            await _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rate = counts.get("ticks", 0) / elapsed
    print(
        f"loaded {counts.get('ticks', 0):,} ticks, {counts.get('bars_1m', 0):,} bar upserts "
        f"in {elapsed:.2f} s (batch {settings.loader_batch_rows:,} rows)"
    )
    print(f"catch-up rate: {rate:,.0f} rows/s wall clock (floor {FLOOR_ROWS_PER_SECOND:,})")
    path = (
        "binary COPY fast path (C extension)"
        if tickcopy.fast_path_active()
        else "general path only"
    )
    print(f"  trades went the {path}")
    rows = counts.get("ticks", 0)
    backend = cpu.get("backend_cpu")
    print(
        f"  CPU per row: loader process {loader_cpu / rows * 1e6:.1f} us"
        f" ({rows / loader_cpu:,.0f} rows per CPU second)"
    )
    if backend:
        print(
            f"  CPU per row: PostgreSQL backend {backend / rows * 1e6:.1f} us"
            f" ({rows / backend:,.0f} rows per CPU second)"
        )
    print(f"  PostgreSQL bytes per tick (table, indexes, TOAST): {per_tick:,.0f}")
    print(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if counts.get("ticks") != records // symbols * symbols:
        raise SystemExit("row count mismatch")
    if rate < FLOOR_ROWS_PER_SECOND:
        raise SystemExit(f"below the floor of {FLOOR_ROWS_PER_SECOND:,} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument(
        "--general-path", action="store_true", help="as if the C extension were not built"
    )
    args = parser.parse_args()
    if args.general_path:
        from observer.store import tickcopy

        tickcopy._tickcopy = None  # what an install without a C compiler gets
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.store.samples
    asyncio.run(_run(args.records, args.symbols))


if __name__ == "__main__":
    main()
