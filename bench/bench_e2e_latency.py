"""End-to-end latency: tick receive (recv_ts) -> row visible in PostgreSQL, during a live run.

An ArchiveWriter takes ticks at a steady rate (default 1,000/s for 10 s, 40 symbols) while
the ArchiveLoader follows the archive in the same process (as in the service); a poller reads
newly visible rows and records now - recv_ts for each. Prints p50 / p99 / max
(floor: p99 <= 1 s). Needs the PostgreSQL of the tests.

    .venv/bin/python bench/bench_e2e_latency.py [--rate N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FLOOR_P99_SECONDS = 1.0


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _produce(writer: Any, clock: Any, rate: int, seconds: float, symbols: int) -> int:
    from tests.store.samples import tick

    sent = 0
    acc = [0] * symbols
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick_every = 0.01  # submit in 10 ms slices
    per_slice = max(1, int(rate * tick_every))
    while loop.time() - start < seconds:
        for _ in range(per_slice):
            s = sent % symbols
            acc[s] += 3
            await writer.submit(tick(f"{100000 + s:06d}", acc[s], 70000, 3, clock.now_ns()))
            sent += 1
        await asyncio.sleep(max(0.0, start + (sent / rate) - loop.time()))
    return sent


async def _poll(dsn: str, clock: Any, target: list[int], out: list[float]) -> None:
    """Record visibility latencies until ``target[0]`` rows (set when producing ends) are seen."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    last = epoch  # ticks keep the receive time to the microsecond (recv_ts)
    try:
        while True:
            try:
                rows = await conn.fetch(
                    "SELECT recv_ts FROM ticks WHERE recv_ts > $1 ORDER BY recv_ts", last
                )
            except asyncpg.UndefinedTableError:
                rows = []
            now = clock.now_ns()
            for row in rows:
                out.append(
                    (now - (row["recv_ts"] - epoch) // timedelta(microseconds=1) * 1000) / 1e9
                )
            if rows:
                last = rows[-1]["recv_ts"]
            if target and len(out) >= target[0]:
                return
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def _run(rate: int, seconds: float, symbols: int) -> None:
    from urllib.parse import urlsplit

    from observer.archive.reader import ArchiveReader
    from observer.archive.writer import ArchiveWriter
    from observer.clock import Clock
    from observer.config.settings import settings_for_tests
    from observer.metrics import Metrics
    from observer.store.loader import ArchiveLoader
    from observer.store.migrations import migrate

    url = os.environ.get("OBSERVER_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1/postgres"
    parts = urlsplit(url)
    name = "bench_e2e_" + secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for_tests(
            Path(tmp),
            DB_HOST=parts.hostname or "127.0.0.1",
            DB_PORT=parts.port or 5432,
            DB_USER=parts.username or "postgres",
            DB_NAME=name,
            **({"DB_PASSWORD": parts.password} if parts.password else {}),
        )
        clock, metrics = Clock(), Metrics()
        await migrate(settings)
        writer = ArchiveWriter(
            settings.assets_dir, clock, metrics, fsync_ms=settings.fsync_ms,
            batch_max=settings.fsync_batch, queue_max=settings.queue_max,
        )  # fmt: skip
        await writer.start()
        loader = ArchiveLoader(
            settings, clock, metrics, ArchiveReader(settings.assets_dir), auto_migrate=False
        )
        latencies: list[float] = []
        target: list[int] = []
        dsn = settings.db_dsn
        try:
            follow = asyncio.create_task(loader.run_forever())
            poller = asyncio.create_task(_poll(dsn, clock, target, latencies))
            sent = await _produce(writer, clock, rate, seconds, symbols)
            target.append(sent)
            try:
                await asyncio.wait_for(poller, 30)
            except TimeoutError:
                pass
            loader.stop()
            await follow
        finally:
            await writer.close()
            await _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    latencies.sort()
    if len(latencies) < sent:
        raise SystemExit(f"only {len(latencies)} of {sent} ticks became visible")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    print(f"{sent:,} ticks at {rate:,}/s over {seconds:.0f} s, fsync {settings.fsync_ms} ms, "
          f"loader batch {settings.loader_batch_ms} ms")  # fmt: skip
    print(
        f"receive -> visible in PostgreSQL: p50 {pct(0.50) * 1000:.0f} ms, "
        f"p99 {pct(0.99) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms "
        f"(floor p99 <= {FLOOR_P99_SECONDS * 1000:.0f} ms)"
    )
    if pct(0.99) > FLOOR_P99_SECONDS:
        raise SystemExit("p99 above the floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--symbols", type=int, default=40)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.store.samples
    asyncio.run(_run(args.rate, args.seconds, args.symbols))


if __name__ == "__main__":
    main()
