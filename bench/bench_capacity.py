"""Capacity: what a trading day costs on each volume, measured from a simulated session.

Runs the real service (`observer run`, built-in simulator, 41 scalp slots, the loader into a
throwaway PostgreSQL database) with the clock fast-forwarded through part of a regular
session, then measures:

* archive bytes per simulated hour per stream (scalp, swing, system), plain and after the
  archive's own zstd compression (level 3, as the maintenance compresses closed hours);
* PostgreSQL bytes per tick, per quote and per 1-minute bar, indexes and TOAST included
  (``pg_total_relation_size`` summed over the day partitions, divided by their row count),
  and the size of all other tables together;
* log bytes per simulated hour (everything under OBSERVER_LOG_DIR);
* the universe snapshot bytes per day.

From them it derives the per-trading-day rates (6.5 h of regular session at 41 slots; per
extra app key the scalp part scales by slots). The simulator's trades follow a U-shaped
intraday profile: it prints how busy the measured window is against the session mean (a
half hour from 09:05 runs at about 2x, three hours at about 1x). With ``--write
deploy/capacity.yaml`` it replaces the ``rates`` section of that file, which ``observer
verify manifests`` reads to compute each claim's days-until-full. Whatever schema is current
when it runs is measured. Needs the PostgreSQL of the tests (OBSERVER_TEST_DATABASE_URL or
127.0.0.1:5432 user postgres).

    .venv/bin/python bench/bench_capacity.py [--seconds S] [--speed X] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import yaml
import zstandard

SESSION_HOURS = 6.5  # 09:00-15:30 of trades and sweeps
START = "2026-11-26T09:05:00+09:00"
ZSTD_LEVEL = 3
# The day-partitioned tables; bars_1m grows with slots x minutes, not with trades.
PARTITIONED = ("ticks", "quotes", "bars_1m")


def _admin_url() -> str:
    return os.environ.get(
        "OBSERVER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )


async def _sql(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _run_service(home: Path, db: str, seconds: float, speed: float) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "OBSERVER_HOME": str(home),
        "OBSERVER_SOURCE": "sim",
        "OBSERVER_CLOCK_START": START,
        "OBSERVER_CLOCK_SPEED": str(speed),
        "OBSERVER_SCALP_MAX_SLOTS": "41",
        "OBSERVER_LOADER_ENABLED": "true",
        "SERVICE_PORT": "0",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "5432",
        "DB_USER": "postgres",
        "DB_NAME": db,
    }
    command = [str(Path(sys.executable).parent / "observer"), "run"]
    with (home / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(command, env=env, stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.5)
            if proc.poll() is not None:
                sys.exit(f"the service stopped early; see {home / 'stderr.txt'}")
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _archive(home: Path, hours: float) -> tuple[dict[str, dict[str, float]], float]:
    """Per stream: records and bytes per simulated hour, plain and zstd. The writer compresses
    an hour when the clock leaves it, so closed hours are read from their ``.zst`` (plain =
    decompressed, zstd = the file) and the open one is compressed here the same way. Also the
    plain bytes of the busiest clock hour (all streams; an hour the window covers for at least
    half is scaled to the full hour)."""
    from observer.archive.paths import parse_name

    assets = home / "data" / "assets"
    found: dict[str, dict[str, float]] = {}
    by_hour: dict[int, float] = {}
    cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True)
    for path in sorted(assets.iterdir()):
        parsed = parse_name(path.name)
        if parsed is None:
            continue
        if parsed.compressed:
            packed = path.read_bytes()
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(packed)
        else:
            raw = path.read_bytes()
            packed = cctx.compress(raw)
        entry = found.setdefault(parsed.stream, {"plain": 0.0, "zstd": 0.0, "records": 0.0})
        entry["plain"] += len(raw)
        entry["zstd"] += len(packed)
        entry["records"] += raw.count(b"\n")
        by_hour[parsed.hour] = by_hour.get(parsed.hour, 0.0) + len(raw)
    first = int(START[11:13]) * 60 + int(START[14:16])  # minutes after midnight
    last = first + hours * 60
    busiest = 0.0
    for hour, plain in by_hour.items():
        covered = min(last, hour * 60 + 60) - max(first, hour * 60)
        if covered >= 30:
            busiest = max(busiest, plain * 60 / covered)
    per_hour = {s: {k: v / hours for k, v in e.items()} for s, e in found.items()}
    return per_hour, busiest


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


async def _database(url: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for table in PARTITIONED:
        rows = await _sql(
            url,
            "SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) AS bytes "
            "FROM pg_inherits i WHERE i.inhparent = $1::regclass",
            table,
        )
        count = (await _sql(url, f"SELECT count(*) AS n FROM {table}"))[0]["n"]  # noqa: S608
        total = int(rows[0]["bytes"])
        out[table] = {"rows": count, "bytes": total, "per_row": total / count if count else 0.0}
    # Everything else (gaps, events, universe members, checkpoints, catalogue): not per tick.
    rows = await _sql(
        url,
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND NOT c.relispartition",
    )
    out["other"] = {"rows": 0, "bytes": int(rows[0]["bytes"]), "per_row": 0.0}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=360.0,
        help="real seconds to run (the default, at 30x, is three simulated hours: about 1x the "
        "session's mean trade rate; shorter windows from 09:05 are busier)",
    )
    parser.add_argument("--speed", type=float, default=30.0, help="clock speed")
    parser.add_argument("--write", type=Path, help="update the rates section of this YAML")
    args = parser.parse_args()
    admin = _admin_url()
    db = "bench_capacity_" + secrets.token_hex(4)
    asyncio.run(_sql(admin, f'CREATE DATABASE "{db}"'))
    dsn = admin.rsplit("/", 1)[0] + "/" + db
    home = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    try:
        _run_service(home, db, args.seconds, args.speed)
        hours = args.seconds * args.speed / 3600
        archive, busiest = _archive(home, hours)
        # The service stopped: load what it had not loaded yet.
        subprocess.run(
            [str(Path(sys.executable).parent / "observer"), "db", "load"],
            env={"PATH": os.environ.get("PATH", ""), "OBSERVER_HOME": str(home),
                 "DB_HOST": "127.0.0.1", "DB_USER": "postgres", "DB_NAME": db},
            check=False, capture_output=True,
        )  # fmt: skip
        database = asyncio.run(_database(dsn))
        for entry in database.values():
            entry["rows_per_hour"] = entry["rows"] / hours
        # Most log lines follow real time (periodic status), some the simulated market: the
        # larger of the two per-hour figures is taken.
        logs = _dir_bytes(home / "logs") / min(hours, args.seconds / 3600)
        universe = _dir_bytes(home / "universe")
    finally:
        asyncio.run(_sql(admin, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        shutil.rmtree(home, ignore_errors=True)
    report(archive, database, logs, universe, hours, busiest)
    if args.write:
        write_rates(args.write, rates(archive, database, logs, universe, busiest))


def window_intensity(hours: float, steps: int = 2000) -> float:
    """Mean of the simulator's intraday trade profile over the measured window, relative to
    the whole session (1.0 = a window as busy as the average hour of the day)."""
    from observer.sim.schedule import intraday_profile

    start = (int(START[11:13]) * 60 + int(START[14:16]) - 9 * 60) / (SESSION_HOURS * 60)
    width = min(hours / SESSION_HOURS, 1 - start)
    points = (start + width * (i + 0.5) / steps for i in range(steps))
    return sum(intraday_profile(x) for x in points) / steps


def rates(
    archive: dict[str, dict[str, float]],
    database: dict[str, dict[str, float]],
    logs: float,
    universe: float,
    busiest: float,
) -> dict[str, Any]:
    """Per-trading-day rates at 41 slots (scalp scales with slots for extra app keys)."""
    per_day = {s: {k: v * SESSION_HOURS for k, v in e.items()} for s, e in archive.items()}
    zstd_day = sum(e["zstd"] for e in per_day.values())
    plain_hour = sum(e["plain"] for e in archive.values())
    ticks_day = per_day.get("scalp", {}).get("records", 0.0)
    quotes_day = per_day.get("swing", {}).get("records", 0.0)
    bars_day = database["bars_1m"]["rows_per_hour"] * SESSION_HOURS
    db_day = (
        ticks_day * database["ticks"]["per_row"]
        + quotes_day * database["quotes"]["per_row"]
        + bars_day * database["bars_1m"]["per_row"]
    )
    return {
        "measured_on": date.today().isoformat(),
        "slots": 41,
        "session_hours": SESSION_HOURS,
        "archive_zstd_bytes_per_day": int(zstd_day),
        # The writer compresses an hour when the clock leaves it: at most the open hour and
        # the one being compressed are plain at once, twice the busiest hour at worst.
        "archive_plain_bytes_per_hour": int(plain_hour),
        "archive_plain_bytes_busiest_hour": int(busiest),
        "archive_plain_bytes_peak": int(2 * busiest),
        "scalp_zstd_bytes_per_day_per_slot": int(per_day.get("scalp", {}).get("zstd", 0) / 41),
        "db_bytes_per_tick": round(database["ticks"]["per_row"], 1),
        "db_bytes_per_quote": round(database["quotes"]["per_row"], 1),
        "db_bytes_per_bar": round(database["bars_1m"]["per_row"], 1),
        "db_bytes_per_day": int(db_day),
        "log_bytes_per_day": int(logs * 24),
        "universe_bytes_per_day": int(universe),
    }


def report(
    archive: dict[str, dict[str, float]],
    database: dict[str, dict[str, float]],
    logs: float,
    universe: float,
    hours: float,
    busiest: float,
) -> None:
    print(
        f"simulated session: {hours:.2f} h at 41 slots from {START[11:16]}; the simulator's "
        f"trade intensity in that window is {window_intensity(hours):.2f}x its session mean"
    )
    print(f"{'stream':8} {'records/h':>12} {'plain B/h':>14} {'zstd B/h':>14} {'ratio':>7}")
    for stream, e in sorted(archive.items()):
        ratio = e["plain"] / e["zstd"] if e["zstd"] else 0.0
        print(
            f"{stream:8} {e['records']:>12,.0f} {e['plain']:>14,.0f} {e['zstd']:>14,.0f}"
            f" {ratio:>6.1f}x"
        )
    for table, d in database.items():
        if table == "other":
            print(f"postgres other tables: {d['bytes']:,.0f} bytes in all")
            continue
        print(f"postgres {table}: {d['rows']:,.0f} rows, {d['bytes']:,.0f} bytes = "
              f"{d['per_row']:,.1f} bytes/row (indexes included)")  # fmt: skip
    print(f"busiest clock hour: {busiest:,.0f} plain archive bytes (all streams)")
    print(f"logs: {logs:,.0f} bytes per hour; universe snapshots: {universe:,.0f} bytes")
    for key, value in rates(archive, database, logs, universe, busiest).items():
        print(f"  {key}: {value}")


def write_rates(path: Path, measured: dict[str, Any]) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    head = text.split("\nrates:", 1)[0].rstrip("\n") + "\n" if text else ""
    path.write_text(head + yaml.safe_dump({"rates": measured}, sort_keys=False), encoding="utf-8")
    print(f"rates written to {path}")


if __name__ == "__main__":
    main()
